from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from courses import phases
        from courses.signals import lab_selection_changed

        from .models import Entry
        from .standing import entry_removed, lab_standings_refresh

        lab_selection_changed.connect(lab_standings_refresh, dispatch_uid="standings-refresh")
        # Staff removing an entry (the admin) stands the student's next one.
        post_delete.connect(entry_removed, sender=Entry, dispatch_uid="entry-removed")
        phases.register_private_progress(_private_done_due)


def _private_done_due(lab, now):
    from .selectors import lab_private_progress

    progress = lab_private_progress(lab, now)
    return progress.done, progress.due
