from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo seeding: the top floor, free to use every app below it."""

    name = "demo"
