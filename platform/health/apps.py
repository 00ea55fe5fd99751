from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"

    def ready(self) -> None:
        from . import worker_signals  # noqa: F401  (connects Celery worker signals)
