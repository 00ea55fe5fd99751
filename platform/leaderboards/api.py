from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import answers, path_parameter, query_parameter
from courses.models import Lab
from courses.selectors import edition_current

from .ranking import RankedRow
from .selectors import PAGE_SIZE, BoardPage, access_leaderboard, board_page


class ColumnSerializer(serializers.Serializer):
    """One metric of the lab spec (grader.specs.MetricSpec)."""

    name = serializers.CharField()
    # DRF's stubs take `label` for the field's own label; a field named so is valid DRF.
    label = serializers.CharField()  # type: ignore[assignment]
    unit = serializers.CharField(allow_blank=True)
    direction = serializers.ChoiceField(["higher", "lower"], help_text="Which is better.")


class ScoreSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % confidence interval, low end.")
    ci_high = serializers.FloatField(
        allow_null=True, help_text="95 % confidence interval, high end."
    )


class BoardRowSerializer(serializers.Serializer):
    """One row of a stored board (a RankedRow).

    The fields say what a row is (the schema is made from them); `to_representation` writes
    the row out directly, as the fields would: a page of 100 rows of 12 metrics takes about
    1 ms so, and about 20 ms through DRF's fields, on the leaderboard's hot path. The API
    schema test holds the two to each other (every answer against the schema, no key more).
    """

    key = serializers.CharField(source="row.key", help_text="user:<id>, or baseline:<id>.")
    rank = serializers.IntegerField(allow_null=True)
    tied = serializers.BooleanField()
    name = serializers.CharField(source="row.name")
    reference = serializers.BooleanField(source="row.is_reference")
    prize_eligible = serializers.BooleanField(source="row.eligible")
    affiliation_verified = serializers.BooleanField(source="row.verified")
    metrics = serializers.DictField(
        source="row.metrics", child=serializers.FloatField(allow_null=True)
    )
    scores = serializers.SerializerMethodField(help_text="Each metric with its 95 % interval.")
    statistically_tied_with = serializers.IntegerField(
        source="tie_leader",
        allow_null=True,
        help_text="The rank of the leader of this row's statistical tie, if any.",
    )
    public_rank = serializers.IntegerField(
        allow_null=True, help_text="Private split: the public rank."
    )
    rank_change = serializers.IntegerField(
        allow_null=True, help_text="Places gained since public (negative: lost)."
    )
    far_better_in_public = serializers.BooleanField(source="far_drop")

    @extend_schema_field(serializers.DictField(child=ScoreSerializer()))
    def get_scores(self, ranked: RankedRow) -> dict:
        cis = ranked.row.intervals
        return {
            name: {
                "value": value,
                "ci_low": cis[name][0] if cis.get(name) else None,
                "ci_high": cis[name][1] if cis.get(name) else None,
            }
            for name, value in ranked.row.metrics.items()
        }

    def to_representation(self, ranked: RankedRow) -> dict:
        row = ranked.row
        return {
            "key": row.key,
            "rank": ranked.rank,
            "tied": ranked.tied,
            "name": row.name,
            "reference": row.is_reference,
            "prize_eligible": row.eligible,
            "affiliation_verified": row.verified,
            "metrics": row.metrics,
            "scores": self.get_scores(ranked),
            "statistically_tied_with": ranked.tie_leader,
            "public_rank": ranked.public_rank,
            "rank_change": ranked.rank_change,
            "far_better_in_public": ranked.far_drop,
        }


class RankingSerializer(serializers.Serializer):
    primary = serializers.CharField()
    tie_breaks = serializers.ListField(child=serializers.CharField())


class LeaderboardSerializer(serializers.Serializer):
    """One page of a lab's stored board (a BoardPage)."""

    lab = serializers.CharField(source="board.lab.spec_id")
    edition = serializers.CharField(source="board.lab.edition.slug")
    split = serializers.CharField(source="board.split")
    selection = serializers.CharField(
        source="board.lab.selection",
        help_text="Which entry stands for a student: best, latest, final.",
    )
    ranking = RankingSerializer(source="board.spec.ranking")
    columns = ColumnSerializer(source="board.spec.metrics", many=True)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    pages = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Rows on the whole board.")
    ranked_at = serializers.DateTimeField(
        allow_null=True, help_text="When the board was last ranked (after each change)."
    )
    rows = BoardRowSerializer(source="board.rows", many=True)
    you = BoardRowSerializer(
        source="own", allow_null=True, help_text="Your own row, on this page or not."
    )


LAB_ID = path_parameter(
    "spec_id", str, "lab2-debias", "A lab id (its spec id), see GET /api/labs/."
)


class LeaderboardApi(APIView):
    @extend_schema(
        summary="A lab's leaderboard",
        tags=["labs"],
        parameters=[
            LAB_ID,
            query_parameter(
                "edition", str, "An edition's slug; the current edition when left out."
            ),
            query_parameter(
                "split", str, "Private only after the reveal.", enum=["public", "private"]
            ),
            query_parameter("page", int, "1-based; a page past the last has no rows."),
            query_parameter("page_size", int, "Rows per page: 100, at most 500."),
        ],
        responses=answers(
            {200: LeaderboardSerializer},
            bad="page and page_size are whole numbers.",
            denied="Log in; the private split is shown after the reveal.",
            missing="No such lab or split.",
        ),
    )
    def get(self, request, spec_id: str):
        labs = Lab.objects.select_related("edition", "board_state")
        slug = request.query_params.get("edition")
        if slug:
            lab = get_object_or_404(labs, edition__slug=slug, spec_id=spec_id)
        else:
            lab = get_object_or_404(labs, edition=edition_current(), spec_id=spec_id)
        split = access_leaderboard(request.user, lab, request.query_params.get("split"))
        params = request.query_params
        try:
            page = int(params.get("page", 1))
            page_size = int(params.get("page_size", PAGE_SIZE))
        except ValueError:
            raise ParseError("page and page_size are whole numbers.") from None
        paged: BoardPage = board_page(lab, split, request.user, page, page_size)
        return Response(LeaderboardSerializer(paged).data)
