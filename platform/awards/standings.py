"""Ranked entrants per prize category, from the leaderboards and the pitch judging."""

from accounts.models import User
from core.scoring import fraction_text
from courses.models import Edition, Lab
from judging.selectors import lab_judging_state, prize_standings
from leaderboards.selectors import insignificant_boundaries, leaderboard_stored
from projects.selectors import standings_for
from submissions.splits import PRIVATE, PUBLIC

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
                score=fraction_text(result.final),
                emails=tuple(m.email for m in members if m.email),
            )
        )
    return entrants


def lab_entrants(lab: Lab) -> list[Entrant]:
    """Ranked entrants of a lab: by the combined rubric score (judged finalists only) when
    the lab has judges; by its final (private-split) leaderboard when it has none, for a lab
    ranked by its metric alone still gives its prize."""
    if lab_judging_state(lab) is None:
        return _leaderboard_entrants(lab)
    results = [(r, r.rank) for r in prize_standings(lab) if r.rank is not None]
    user_ids = [int(r.finalist.key.split(":", 1)[1]) for r, _ in results]
    emails = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))
    return [
        Entrant(
            key=r.finalist.key,
            name=r.finalist.name,
            rank=rank,
            eligible=r.finalist.eligible,
            score=fraction_text(r.combined),
            emails=(emails[user_id],) if emails.get(user_id) else (),
        )
        for (r, rank), user_id in zip(results, user_ids, strict=True)
    ]


def _leaderboard_entrants(lab: Lab) -> list[Entrant]:
    """The students ranked on the lab's private-split board as last stored (its rank: the
    lab spec's primary metric, then its tie-breaks), with the primary metric as their score."""
    board = leaderboard_stored(lab, PRIVATE)
    user_ids = [r.row.user_id for r in board.rows if r.row.user_id is not None]
    emails = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))
    primary = board.primary
    entrants = []
    for r in board.rows:
        if r.rank is None or r.row.user_id is None:
            continue  # unscored students and reference rows take no prize
        email = emails.get(r.row.user_id)
        entrants.append(
            Entrant(
                key=r.row.key,
                name=r.row.name,
                rank=r.rank,
                eligible=r.row.eligible,
                score=f"{primary.label} {r.row.metrics[primary.name]:.4g}",
                emails=(email,) if email else (),
            )
        )
    return entrants


def lab_noise_boundaries(lab: Lab, places: int) -> list[str]:
    """Read-only notes for staff before confirming: prize boundaries of the lab's leaderboard
    (private split once revealed) whose two sides are not significantly different."""
    split = PRIVATE if lab.private_revealed else PUBLIC
    board = leaderboard_stored(lab, split)  # as last ranked: not ranked again here
    return [
        f"{a.row.name} (rank {a.rank}) and {b.row.name} (rank {b.rank}) on the {split} split "
        f"are not significantly different (both in the tie led by rank {a.tie_leader})"
        for a, b in insignificant_boundaries(board, places)
    ]
