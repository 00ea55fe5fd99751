from django.urls import path

from . import api, views

urlpatterns = [
    path("labs/<int:lab_id>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("labs/<int:lab_id>/leaderboard.csv", views.leaderboard_csv, name="leaderboard-csv"),
    path(
        "labs/<int:lab_id>/leaderboard/duplicates/",
        views.leaderboard_duplicates,
        name="leaderboard-duplicates",
    ),
    path(
        "labs/<int:lab_id>/leaderboard/reveal/",
        views.leaderboard_reveal,
        name="leaderboard-reveal",
    ),
    path(
        "api/labs/<slug:spec_id>/leaderboard/",
        api.LeaderboardApi.as_view(),
        name="api-leaderboard",
    ),
]
