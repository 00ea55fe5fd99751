from celery import shared_task

from .services import reminders_send


@shared_task(name="notifications.send_reminders")
def send_reminders() -> int:
    return reminders_send()
