from django.apps import AppConfig


class AwardsConfig(AppConfig):
    name = "awards"

    def ready(self) -> None:
        # Tell the lab phase (courses.phases, which may not import awards) when a lab's
        # winners were announced: from then on nothing may reopen it.
        from courses.phases import register_results_lock

        from .phases import lab_results_lock

        register_results_lock(lab_results_lock)
