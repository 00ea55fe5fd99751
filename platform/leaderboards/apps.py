from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "leaderboards"

    def ready(self) -> None:
        from submissions.standing import standings_changed

        from .services import board_refresh_soon

        standings_changed.connect(board_refresh_soon, dispatch_uid="board-refresh")
