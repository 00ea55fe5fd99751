from django.shortcuts import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from core.scoring import fraction_exact
from courses.models import Edition
from judging.models import PITCH_CRITERIA, PitchBallot

from . import selectors, services
from .models import ProjectGroup


def _group(group_id: int) -> ProjectGroup:
    return get_object_or_404(ProjectGroup.objects.select_related("edition"), pk=group_id)


def _ballot_data(ballot: PitchBallot | None) -> dict:
    scores = ballot.scores() if ballot else dict.fromkeys(PITCH_CRITERIA)
    return {
        **scores,
        "comment": ballot.comment if ballot else "",
        "complete": bool(ballot and ballot.is_complete),
        "score": fraction_exact(ballot.score) if ballot else "",
        "updated_at": ballot.updated_at.isoformat() if ballot else None,
    }


class JudgingListApi(APIView):
    """A judge's pitches to score, in schedule order, with their own ballot state."""

    def get(self, request, edition_slug: str):
        edition = get_object_or_404(Edition, slug=edition_slug)
        if not request.user.is_judge:
            return Response({"detail": "Only judges score pitches."}, status=403)
        return Response(
            {
                "edition": edition.slug,
                "groups": [
                    {
                        "id": item.group.pk,
                        "name": item.group.name,
                        "title": item.group.title,
                        "slot": item.group.slot,
                        "state": item.state,
                        "ballot": _ballot_data(item.ballot),
                    }
                    for item in selectors.groups_to_score(request.user, edition)
                ],
            }
        )


class BallotApi(APIView):
    """Read or save the requesting judge's ballot; send only the fields that changed."""

    def get(self, request, group_id: int):
        group = selectors.access_group_scoring(request.user, _group(group_id))
        return Response(_ballot_data(selectors.ballot_for(request.user, group)))

    def post(self, request, group_id: int):
        group = selectors.access_group_scoring(request.user, _group(group_id))
        if not isinstance(request.data, dict):
            return Response({"detail": "Send a JSON object."}, status=400)
        ballot = services.ballot_save(judge=request.user, group=group, changes=request.data)
        return Response(_ballot_data(ballot))

    put = post


class GroupScoresApi(APIView):
    """Every judge's ballot for one group: staff only."""

    def get(self, request, group_id: int):
        group = selectors.access_group_scores(request.user, _group(group_id))
        return Response(
            {
                "group": group.name,
                "ballots": [
                    {"judge": b.judge.username, **_ballot_data(b)}
                    for b in selectors.ballots_for_edition(group.edition).filter(group=group)
                ],
            }
        )


class StandingsApi(APIView):
    def get(self, request, edition_slug: str):
        edition = selectors.access_standings(
            request.user, get_object_or_404(Edition, slug=edition_slug)
        )
        standings = selectors.standings_for(edition)
        return Response(
            {
                "edition": edition.slug,
                "min_judges": standings.min_judges,
                "groups": [
                    {
                        "id": r.group_id,
                        "name": r.name,
                        "rank": r.rank,
                        "tied": r.tied,
                        "insufficient": r.insufficient,
                        "prize_eligible": r.eligible,
                        "final": fraction_exact(r.final),
                        "final_decimal": float(r.final) if r.final is not None else None,
                        "judges_counted": r.judges_counted,
                        "incomplete_ballots": r.incomplete_ballots,
                        "disagreement": fraction_exact(r.disagreement),
                        "mean_z": r.mean_z,
                        "z_rank": r.z_rank,
                    }
                    for r in standings.groups
                ],
            }
        )
