from django.urls import path

from . import api, roster_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("editions/<slug:slug>/join/", views.edition_join, name="edition-join"),
    path("api/labs/", api.LabListApi.as_view(), name="api-labs"),
    path("staff/people/", roster_views.people, name="staff-people"),
]
