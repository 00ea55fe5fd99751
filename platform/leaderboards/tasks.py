from celery import shared_task

from .services import board_refresh_queued, boards_stale_refresh


# On the default (site) queue, never behind grading runs on the cpu and gpu queues.
@shared_task(name="leaderboards.refresh_board", acks_late=True)
def refresh_board(lab_id: int) -> None:
    board_refresh_queued(lab_id)


@shared_task(name="leaderboards.refresh_stale_boards")
def refresh_stale_boards() -> int:
    return boards_stale_refresh()
