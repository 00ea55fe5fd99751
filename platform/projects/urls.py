from django.urls import path

from . import api, views

urlpatterns = [
    path("projects/", views.projects_current, name="projects"),
    path("projects/<slug:edition_slug>/", views.projects_home, name="projects-home"),
    path(
        "projects/<slug:edition_slug>/groups/new/", views.group_create, name="projects-group-create"
    ),
    path(
        "projects/<slug:edition_slug>/review/", views.review_submit, name="projects-review-submit"
    ),
    path("projects/<slug:edition_slug>/judging/", views.judging, name="projects-judging"),
    path("projects/<slug:edition_slug>/staff/", views.dashboard, name="projects-dashboard"),
    path(
        "projects/<slug:edition_slug>/staff/ballots.csv",
        views.ballots_csv,
        name="projects-ballots-csv",
    ),
    path(
        "projects/<slug:edition_slug>/staff/schedule/",
        views.schedule_generate,
        name="projects-schedule-generate",
    ),
    path(
        "projects/<slug:edition_slug>/staff/conflicts/",
        views.conflict_add,
        name="projects-conflict-add",
    ),
    path(
        "projects/<slug:edition_slug>/staff/close-scoring/",
        views.scoring_close,
        name="projects-scoring-close",
    ),
    path(
        "projects/groups/<int:group_id>/attendance/",
        views.attendance_mark,
        name="projects-attendance",
    ),
    path("projects/groups/<int:group_id>/", views.group_detail, name="projects-group"),
    path("projects/groups/<int:group_id>/slides.pdf", views.group_slides, name="projects-slides"),
    path("projects/groups/<int:group_id>/invite/", views.invitation_create, name="projects-invite"),
    path("projects/groups/<int:group_id>/leave/", views.group_leave, name="projects-leave"),
    path("projects/groups/<int:group_id>/signup/", views.pitch_signup, name="projects-signup"),
    path(
        "projects/groups/<int:group_id>/slides/", views.slides_submit, name="projects-slides-submit"
    ),
    path("projects/groups/<int:group_id>/score/", views.score_sheet, name="projects-score"),
    path(
        "projects/groups/<int:group_id>/conflict/",
        views.conflict_declare,
        name="projects-conflict-declare",
    ),
    path(
        "projects/conflicts/<int:conflict_id>/withdraw/",
        views.conflict_withdraw,
        name="projects-conflict-withdraw",
    ),
    path("projects/groups/<int:group_id>/move/", views.schedule_move, name="projects-move"),
    path(
        "projects/invitations/<int:invitation_id>/<str:action>/",
        views.invitation_respond,
        name="projects-invitation",
    ),
    path("projects/reviews/<int:review_id>/file/", views.review_file, name="projects-review-file"),
    path("projects/reviews/<int:review_id>/mark/", views.review_mark, name="projects-review-mark"),
    path(
        "api/projects/<slug:edition_slug>/judging/",
        api.JudgingListApi.as_view(),
        name="api-projects-judging",
    ),
    path(
        "api/projects/<slug:edition_slug>/standings/",
        api.StandingsApi.as_view(),
        name="api-projects-standings",
    ),
    path(
        "api/projects/groups/<int:group_id>/ballot/",
        api.BallotApi.as_view(),
        name="api-projects-ballot",
    ),
    path(
        "api/projects/groups/<int:group_id>/scores/",
        api.GroupScoresApi.as_view(),
        name="api-projects-scores",
    ),
]
