from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"

    def ready(self) -> None:
        from courses.signals import lab_selection_changed

        from .standing import lab_standings_refresh

        lab_selection_changed.connect(lab_standings_refresh, dispatch_uid="standings-refresh")
