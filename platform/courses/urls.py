from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("api/labs/", api.LabListApi.as_view(), name="api-labs"),
]
