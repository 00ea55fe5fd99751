from django.apps import AppConfig


class JudgingConfig(AppConfig):
    name = "judging"

    def ready(self) -> None:
        # Tell the lab phase (courses.phases, which may not import judging) whether a
        # lab's scoring is still open.
        from courses.phases import register_judging_state

        from .selectors import lab_judging_state

        register_judging_state(lab_judging_state)
