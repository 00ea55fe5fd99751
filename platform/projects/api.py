from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import answers, path_parameter
from core.scoring import fraction_exact
from courses.models import Edition
from judging.models import PITCH_CRITERIA, PitchBallot

from . import selectors, services
from .models import ProjectGroup


def _group(group_id: int) -> ProjectGroup:
    return get_object_or_404(ProjectGroup.objects.select_related("edition"), pk=group_id)


def _criterion(**more: Any) -> serializers.IntegerField:
    return serializers.IntegerField(allow_null=True, min_value=1, max_value=5, **more)


class BallotSerializer(serializers.Serializer):
    """A judge's ballot for a pitch (a PitchBallot; None: not scored yet)."""

    novelty = _criterion()
    soundness = _criterion()
    clarity = _criterion()
    comment = serializers.CharField(allow_blank=True)
    complete = serializers.BooleanField()
    score = serializers.CharField(
        allow_blank=True, help_text='The mean of the criteria, exactly ("11/3"); "" until complete.'
    )
    updated_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, ballot: PitchBallot | None) -> dict:
        scores = ballot.scores() if ballot else dict.fromkeys(PITCH_CRITERIA)
        return {
            **scores,
            "comment": ballot.comment if ballot else "",
            "complete": bool(ballot and ballot.is_complete),
            "score": fraction_exact(ballot.score) if ballot else "",
            "updated_at": self.fields["updated_at"].to_representation(ballot.updated_at)
            if ballot
            else None,
        }


class BallotChangeSerializer(serializers.Serializer):
    novelty = _criterion(required=False)
    soundness = _criterion(required=False)
    clarity = _criterion(required=False)
    comment = serializers.CharField(required=False, allow_blank=True)


class PitchToScoreSerializer(serializers.Serializer):
    """A group on a judge's list (a ScoringItem)."""

    id = serializers.IntegerField(source="group.pk")
    name = serializers.CharField(source="group.name")
    title = serializers.CharField(source="group.title", allow_blank=True)
    slot = serializers.IntegerField(source="group.slot", allow_null=True)
    state = serializers.CharField(help_text="to score, draft or complete.")
    ballot = serializers.SerializerMethodField(help_text="Empty until you score the group.")

    @extend_schema_field(BallotSerializer)
    def get_ballot(self, item) -> dict:
        return BallotSerializer(item.ballot).data


class JudgingListSerializer(serializers.Serializer):
    edition = serializers.CharField(source="slug")
    groups = serializers.SerializerMethodField()

    @extend_schema_field(PitchToScoreSerializer(many=True))
    def get_groups(self, edition: Edition) -> list:
        items = selectors.groups_to_score(self.context["judge"], edition)
        return list(PitchToScoreSerializer(items, many=True).data)


class JudgeBallotSerializer(BallotSerializer):
    judge = serializers.CharField(source="judge.username")

    def to_representation(self, ballot: PitchBallot | None) -> dict:
        assert ballot is not None  # a judge's ballot that exists
        return {"judge": ballot.judge.username, **super().to_representation(ballot)}


class GroupScoresSerializer(serializers.Serializer):
    group = serializers.CharField(source="name")
    ballots = serializers.SerializerMethodField()

    @extend_schema_field(JudgeBallotSerializer(many=True))
    def get_ballots(self, group: ProjectGroup) -> list:
        ballots = selectors.ballots_for_edition(group.edition).filter(group=group)
        return list(JudgeBallotSerializer(ballots, many=True).data)


class StandingRowSerializer(serializers.Serializer):
    """A group's place in the pitch standings (projects.scoring.GroupResult)."""

    id = serializers.IntegerField(source="group_id")
    name = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True)
    tied = serializers.BooleanField()
    insufficient = serializers.BooleanField(help_text="Fewer complete ballots than needed.")
    prize_eligible = serializers.BooleanField(source="eligible")
    final = serializers.SerializerMethodField(help_text='The exact final score, e.g. "11/3".')
    final_decimal = serializers.SerializerMethodField()
    judges_counted = serializers.IntegerField()
    incomplete_ballots = serializers.IntegerField()
    disagreement = serializers.SerializerMethodField(help_text="The judges' spread, exactly.")
    mean_z = serializers.FloatField(allow_null=True)
    z_rank = serializers.IntegerField(allow_null=True)

    def get_final(self, result) -> str:
        return fraction_exact(result.final)

    def get_final_decimal(self, result) -> float | None:
        return float(result.final) if result.final is not None else None

    def get_disagreement(self, result) -> str:
        return fraction_exact(result.disagreement)


class StandingsSerializer(serializers.Serializer):
    edition = serializers.CharField()
    min_judges = serializers.IntegerField()
    groups = StandingRowSerializer(many=True)


GROUP_ID = path_parameter("group_id", int, 1, "A project group's id.")
EDITION_SLUG = path_parameter("edition_slug", str, "iap-2027", "An edition's slug.")


class JudgingListApi(APIView):
    """A judge's pitches to score, in schedule order, with their own ballot state."""

    @extend_schema(
        parameters=[EDITION_SLUG],
        summary="A judge's pitches to score",
        tags=["projects"],
        responses=answers(
            {200: JudgingListSerializer}, denied="Judges only.", missing="No edition."
        ),
    )
    def get(self, request, edition_slug: str):
        edition = get_object_or_404(Edition, slug=edition_slug)
        if not request.user.is_judge:
            return Response({"detail": "Only judges score pitches."}, status=403)
        return Response(JudgingListSerializer(edition, context={"judge": request.user}).data)


# POST and PUT save a pitch ballot alike.
SAVE: dict[str, Any] = {
    "parameters": [GROUP_ID],
    "tags": ["projects"],
    "request": BallotChangeSerializer,
    "responses": answers(
        {200: BallotSerializer},
        bad="A score outside 1-5, or scoring is closed.",
        denied="Judges without a conflict only.",
        missing="Not pitching.",
    ),
}


class BallotApi(APIView):
    """Read or save the requesting judge's ballot; send only the fields that changed."""

    @extend_schema(
        parameters=[GROUP_ID],
        summary="My ballot for a pitch",
        tags=["projects"],
        responses=answers(
            {200: BallotSerializer},
            denied="Judges without a conflict only.",
            missing="Not pitching.",
        ),
    )
    def get(self, request, group_id: int):
        group = selectors.access_group_scoring(request.user, _group(group_id))
        return Response(BallotSerializer(selectors.ballot_for(request.user, group)).data)

    @extend_schema(summary="Save my ballot (send only the fields that changed)", **SAVE)
    def post(self, request, group_id: int):
        group = selectors.access_group_scoring(request.user, _group(group_id))
        if not isinstance(request.data, dict):
            return Response({"detail": "Send a JSON object."}, status=400)
        ballot = services.ballot_save(judge=request.user, group=group, changes=request.data)
        return Response(BallotSerializer(ballot).data)

    @extend_schema(summary="Save my ballot (same as POST)", **SAVE)
    def put(self, request, group_id: int):
        return self.post(request, group_id)


class GroupScoresApi(APIView):
    """Every judge's ballot for one group: staff only."""

    @extend_schema(
        parameters=[GROUP_ID],
        summary="Every judge's ballot for a group",
        tags=["projects"],
        responses=answers(
            {200: GroupScoresSerializer}, denied="Staff only.", missing="No such group."
        ),
    )
    def get(self, request, group_id: int):
        group = selectors.access_group_scores(request.user, _group(group_id))
        return Response(GroupScoresSerializer(group).data)


class StandingsApi(APIView):
    @extend_schema(
        parameters=[EDITION_SLUG],
        summary="Pitch standings",
        tags=["projects"],
        responses=answers(
            {200: StandingsSerializer}, denied="Staff only.", missing="No such edition."
        ),
    )
    def get(self, request, edition_slug: str):
        edition = selectors.access_standings(
            request.user, get_object_or_404(Edition, slug=edition_slug)
        )
        standings = selectors.standings_for(edition)
        return Response(
            StandingsSerializer(
                {
                    "edition": edition.slug,
                    "min_judges": standings.min_judges,
                    "groups": standings.groups,
                }
            ).data
        )
