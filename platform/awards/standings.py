"""Ranked entrants per prize category, from the leaderboards and the pitch judging."""

from accounts.models import User
from courses.models import Edition, Lab
from projects.scoring import fraction_text
from projects.selectors import standings_for

from .allocation import Entrant


def project_entrants(edition: Edition) -> list[Entrant]:
    """Ranked pitch groups (groups with too few judges are not ranked, so not here)."""
    standings = standings_for(edition)
    groups = {g.pk: g for g in edition.project_groups.prefetch_related("memberships__user")}
    entrants = []
    for result in standings.groups:
        if result.rank is None:
            continue
        members: list[User] = groups[result.group_id].member_users()
        entrants.append(
            Entrant(
                key=f"group:{result.group_id}",
                name=f"{result.name} ({', '.join(str(m) for m in members)})",
                rank=result.rank,
                eligible=result.eligible,
                score=f"{float(result.final):.3f} ({fraction_text(result.final)})",
                emails=tuple(m.email for m in members if m.email),
            )
        )
    return entrants


def lab_entrants(lab: Lab) -> list[Entrant]:
    raise NotImplementedError("wired to the leaderboards' prize standings")
