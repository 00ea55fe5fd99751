from django.apps import AppConfig


class AwardsConfig(AppConfig):
    name = "awards"

    def ready(self) -> None:
        # Tell the phases (courses.phases, which may not import awards) when a lab's or the
        # final projects' winners were announced: from then on nothing may reopen them.
        from courses.phases import register_results_lock

        from .phases import results_lock

        register_results_lock(results_lock)
