from django.urls import path

from . import views

urlpatterns = [
    path("email/unsubscribe/<str:token>/", views.unsubscribe, name="reminders-unsubscribe"),
]
