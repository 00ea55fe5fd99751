from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import attempt

from . import services
from .models import Edition
from .selectors import edition_current, enrolled, lab_list


def home(request):
    edition = edition_current()
    labs = lab_list(edition) if edition else []
    user = request.user
    context = {
        "edition": edition,
        "labs": labs,
        "now": timezone.now(),
        # A student who signed up themselves is not on the roster: they join here.
        "can_join": edition is not None
        and user.is_authenticated
        and user.is_student
        and not enrolled(user, edition),
    }
    return render(request, "courses/home.html", context)


@login_required
@require_POST
def edition_join(request, slug: str):
    edition = get_object_or_404(Edition, slug=slug)
    attempt(
        request,
        lambda: services.enrollment_join(user=request.user, edition=edition),
        f"You joined {edition.name}: upload your entries from each lab's page.",
    )
    return redirect("home")
