from django.urls import path

from . import api, views

urlpatterns = [
    path("labs/<int:lab_id>/", views.lab_detail, name="lab-detail"),
    path("labs/<int:lab_id>/regrade/", views.lab_regrade_all, name="lab-regrade-all"),
    path("entries/<int:entry_id>/", views.entry_detail, name="entry-detail"),
    path("entries/<int:entry_id>/download/", views.entry_download, name="entry-download"),
    path("entries/<int:entry_id>/final/", views.entry_mark_final, name="entry-final"),
    path("entries/<int:entry_id>/regrade/", views.entry_regrade, name="entry-regrade"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("staff/queue/", views.staff_queue, name="staff-queue"),
    path("staff/hidden-sets/", views.staff_hidden_sets, name="staff-hidden-sets"),
    path("samples/<slug:spec_id>.zip", views.lab_sample, name="lab-sample"),
    path("grader/<str:filename>", views.grader_wheel, name="grader-wheel"),
    path("internal/blobs/<str:sha256>/", views.internal_blob, name="internal-blob"),
    path("api/labs/<slug:spec_id>/entries/", api.LabEntriesApi.as_view(), name="api-lab-entries"),
    path("api/entries/<int:entry_id>/", api.EntryApi.as_view(), name="api-entry"),
]
