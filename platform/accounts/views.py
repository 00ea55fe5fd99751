from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import attempt

from . import services
from .forms import AffiliationForm


@login_required
def account(request):
    """The account page: who you are, whether your affiliation is verified, where to change."""
    user = request.user
    form = AffiliationForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved.")
        return redirect("account")
    return render(request, "accounts/account.html", {"form": form})


@login_required
def tokens(request):
    new_key = None
    if request.method == "POST":
        name = request.POST.get("name", "")
        ok, created = attempt(request, lambda: services.token_create(user=request.user, name=name))
        new_key = created[1] if ok else None
    return render(
        request,
        "accounts/tokens.html",
        {"tokens": request.user.api_tokens.all(), "new_key": new_key},
    )


@login_required
@require_POST
def token_revoke(request, token_id: int):
    ok, token = attempt(
        request, lambda: services.token_revoke(user=request.user, token_id=token_id)
    )
    if ok:
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
