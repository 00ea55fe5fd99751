from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "leaderboards"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from submissions.standing import standings_changed

        from .models import LeaderboardBaseline
        from .services import baseline_changed, board_refresh_soon

        standings_changed.connect(board_refresh_soon, dispatch_uid="board-refresh")
        # Reference rows marked or removed anywhere (the admin included) reach the board.
        for signal in (post_save, post_delete):
            signal.connect(baseline_changed, sender=LeaderboardBaseline, dispatch_uid="baseline")
