"""Prizes: preview the allocation, resolve ties, confirm a frozen snapshot, announce it."""

import logging
from dataclasses import asdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from courses.models import Edition, Lab

from .allocation import Allocation, Entrant, PrizeUnits, allocate
from .models import AwardSnapshot, Category, Prize, TieBreak
from .phases import awards_blockers
from .standings import lab_entrants, lab_noise_boundaries, project_entrants

logger = logging.getLogger(__name__)


class AwardsError(Refused):
    """A refused staff action, with what to do about it."""


def _scopes(edition: Edition) -> list[tuple[str, str, list[Prize]]]:
    """(scope, title, prize lines) for every category that has prizes."""
    prizes = list(edition.prizes.select_related("lab").order_by("position", "pk"))
    scopes = []
    for lab in edition.labs.order_by("position", "spec_id"):
        lines = [p for p in prizes if p.category == Category.LAB and p.lab_id == lab.pk]
        if lines:
            scopes.append((f"lab:{lab.pk}", lab.title, lines))
    project = [p for p in prizes if p.category == Category.PROJECT]
    if project:
        scopes.append(("project", "Final project", project))
    return scopes


def _entrants(edition: Edition, scope: str) -> list[Entrant]:
    if scope == "project":
        return project_entrants(edition)
    return lab_entrants(Lab.objects.get(edition=edition, pk=int(scope.split(":", 1)[1])))


def _tie_orders(edition: Edition, scope: str) -> dict[frozenset, list[str]]:
    orders: dict[frozenset, list[str]] = {}
    # Newest first, so the latest decision about a set of tied entrants wins.
    for tie in edition.tie_breaks.filter(scope=scope).order_by("-decided_at", "-pk"):
        orders.setdefault(frozenset(tie.keys), list(tie.keys))
    return orders


def awards_preview(edition: Edition) -> list[dict]:
    """What confirming now would freeze: per category, standings, awards and open ties."""
    categories = []
    for scope, title, lines in _scopes(edition):
        entrants = _entrants(edition, scope)
        allocation = allocate(
            entrants, [PrizeUnits(p.name, p.quantity) for p in lines], _tie_orders(edition, scope)
        )
        category = _category_data(scope, title, lines, entrants, allocation)
        if scope.startswith("lab:"):
            lab = Lab.objects.get(edition=edition, pk=int(scope.split(":", 1)[1]))
            category["noise"] = lab_noise_boundaries(lab, sum(p.quantity for p in lines))
        categories.append(category)
    return categories


def _category_data(scope, title, lines, entrants, allocation: Allocation) -> dict:
    return {
        "scope": scope,
        "title": title,
        "prizes": [{"name": p.name, "quantity": p.quantity} for p in lines],
        "standings": [asdict(e) for e in entrants],
        "awards": [{"prize": a.prize, **asdict(a.entrant)} for a in allocation.awards],
        "skipped": [asdict(e) for e in allocation.skipped],
        "ties": [[asdict(e) for e in tie] for tie in allocation.ties],
    }


def tie_resolve(*, edition: Edition, scope: str, keys: list[str], by: User, note: str = "") -> None:
    require_staff(by, "Only staff break ties.", AwardsError)
    # Every tie that matters, ordered before or not: staff may also change an earlier order.
    lines = next((lines for s, _, lines in _scopes(edition) if s == scope), [])
    ties = allocate(_entrants(edition, scope), [PrizeUnits(p.name, p.quantity) for p in lines], {})
    tied_sets = [{e.key for e in tie} for tie in ties.ties]
    if set(keys) not in tied_sets or len(keys) != len(set(keys)):
        raise AwardsError("Order exactly the entrants of one open tie, each once.")
    TieBreak.objects.create(edition=edition, scope=scope, keys=keys, decided_by=by, note=note)


def snapshot_latest(edition: Edition, announced: bool = False) -> AwardSnapshot | None:
    snapshots = edition.award_snapshots.all()
    if announced:
        snapshots = snapshots.filter(announced_at__isnull=False)
    return snapshots.order_by("-version").first()


@transaction.atomic
def awards_confirm(*, edition: Edition, by: User, reason: str = "") -> AwardSnapshot:
    """Freeze the standings and awards. After an announcement, only as a reasoned revision."""
    require_staff(by, "Only staff confirm awards.", AwardsError)
    Edition.objects.select_for_update(of=("self",)).get(pk=edition.pk)
    if not edition.prizes.exists():
        raise AwardsError("There is no prize in this edition's catalog yet.")
    _require_final(edition, "confirmed")
    categories = awards_preview(edition)
    open_ties = [c["title"] for c in categories if c["ties"]]
    if open_ties:
        raise AwardsError(f"Resolve the ties first: {', '.join(open_ties)}.")
    announced = snapshot_latest(edition, announced=True)
    if announced is not None and not reason.strip():
        raise AwardsError(
            f"Version {announced.version} is announced: changing it needs a revision with a reason."
        )
    version = (edition.award_snapshots.aggregate(v=Max("version"))["v"] or 0) + 1
    return AwardSnapshot.objects.create(
        edition=edition,
        version=version,
        data={"categories": categories, "frozen_at": timezone.now().isoformat()},
        confirmed_by=by,
        revision_reason=reason.strip(),
    )


def _winners(snapshot: AwardSnapshot) -> dict[str, tuple[str, list[str]]]:
    """key -> (what they won, emails), over every category of a snapshot."""
    won: dict[str, tuple[str, list[str]]] = {}
    for category in snapshot.data["categories"]:
        for award in category["awards"]:
            text = f"{award['prize']} ({category['title']})"
            previous = won.get(award["key"], ("", list(award["emails"])))[0]
            won[award["key"]] = (
                (previous + "; " if previous else "") + text,
                list(award["emails"]),
            )
    return won


def _require_final(edition: Edition, what: str) -> None:
    blockers = awards_blockers(edition)
    if blockers:
        raise AwardsError(
            f"Prizes can be {what} only when every competition they depend on is final. "
            + " ".join(blockers)
        )


def announce_summary(snapshot: AwardSnapshot) -> list[dict]:
    """Who gets what, for the page that asks staff to confirm an announcement."""
    return [
        {
            "winner": award["name"],
            "prize": award["prize"],
            "category": category["title"],
            "emails": len(award["emails"]),
        }
        for category in snapshot.data["categories"]
        for award in category["awards"]
    ]


def awards_announce(*, snapshot: AwardSnapshot, by: User, confirmed: bool) -> bool:
    """Publish a confirmed snapshot and email its winners. Announcing twice does nothing.
    `confirmed`: staff saw the summary (announce_summary) and said yes; nothing is
    published or emailed before."""
    require_staff(by, "Only staff announce awards.", AwardsError)
    if snapshot_latest(snapshot.edition) != snapshot:
        raise AwardsError("Only the latest confirmed version can be announced.")
    # A deadline moved or a reveal dropped since confirming makes the competition open again.
    _require_final(snapshot.edition, "announced")
    if not confirmed:
        raise AwardsError("Check who gets what and confirm the announcement.")
    with transaction.atomic():
        previous = snapshot_latest(snapshot.edition, announced=True)
        claimed = AwardSnapshot.objects.filter(pk=snapshot.pk, announced_at__isnull=True).update(
            announced_at=timezone.now(), announced_by=by
        )
    if not claimed:
        return False
    already = _winners(previous) if previous else {}
    for key, (text, emails) in _winners(snapshot).items():
        if already.get(key, ("",))[0] == text or not emails:
            continue  # told before, about the same prize
        try:
            send_mail(
                subject=f"[6.S191] You won: {text}",
                message=(
                    f"Congratulations! You won {text} in {snapshot.edition.name}.\n\n"
                    f"Winners: {settings.SITE_URL}/winners/\n"
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=emails,
            )
        except Exception:  # noqa: BLE001  (the announcement stands; staff can resend)
            logger.exception("could not email winner %s", key)
    return True
