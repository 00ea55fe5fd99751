from django.urls import path

from . import views

urlpatterns = [
    path("winners/", views.winners, name="winners"),
    path("staff/awards/", views.awards_staff, name="awards-staff"),
    path("staff/awards/ties/", views.tie_resolve, name="awards-tie"),
    path("staff/awards/confirm/", views.awards_confirm, name="awards-confirm"),
    path("staff/awards/<int:snapshot_id>/announce/", views.awards_announce, name="awards-announce"),
    path("staff/awards/<int:snapshot_id>/csv/", views.awards_csv, name="awards-csv"),
    path("staff/timeline/", views.timeline_staff, name="staff-timeline"),
    path("staff/pass-report/", views.pass_report_page, name="pass-report"),
]
