from django.http import Http404
from django.shortcuts import render

from .models import ReminderOptOut
from .services import unsubscribe_user


def unsubscribe(request, token: str):
    """GET asks, POST unsubscribes: a mail scanner following links must not unsubscribe anyone."""
    user = unsubscribe_user(token)
    if user is None:
        raise Http404("This unsubscribe link is not valid.")
    done = False
    if request.method == "POST":
        ReminderOptOut.objects.get_or_create(user=user)
        done = True
    return render(request, "notifications/unsubscribe.html", {"person": user, "done": done})
