from django.shortcuts import render
from django.utils import timezone

from .selectors import edition_current, lab_list


def home(request):
    edition = edition_current()
    labs = lab_list(edition) if edition else []
    return render(
        request, "courses/home.html", {"edition": edition, "labs": labs, "now": timezone.now()}
    )
