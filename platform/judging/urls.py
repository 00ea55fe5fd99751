from django.urls import path

from . import views

urlpatterns = [
    path("judging/", views.judging_home, name="judging-home"),
    path("judging/entries/<int:entry_id>/", views.judging_entry, name="judging-entry"),
    path(
        "judging/entries/<int:entry_id>/figures/<int:index>.png",
        views.judging_figure,
        name="judging-figure",
    ),
    path(
        "judging/entries/<int:entry_id>/writeup.pdf",
        views.judging_writeup_pdf,
        name="judging-writeup-pdf",
    ),
    path("labs/<int:lab_id>/judging/", views.judging_lab, name="judging-lab"),
    path("labs/<int:lab_id>/judging/update/", views.judging_lab_update, name="judging-lab-update"),
    path("labs/<int:lab_id>/judging/standings/", views.judging_standings, name="judging-standings"),
]
