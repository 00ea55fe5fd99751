"""The API's OpenAPI 3 description (drf-spectacular), kept beside the views, not in them.

The views are plain APIViews that build their JSON by hand; these extensions tell the schema
what each one takes and answers, who may call it, and its errors. Imported by config.urls.
Every error body is `{"detail": "..."}`; 429 answers carry Retry-After.
"""

from typing import Any, cast

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers as s


class TokenAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`): a personal token from *API tokens*.",
        }


# --- bodies (documentation only: the views build these dicts themselves) -------------------


class Error(s.Serializer):
    detail = s.CharField()


class Me(s.Serializer):
    username = s.CharField()
    name = s.CharField()
    role = s.ChoiceField(["student", "judge", "staff"])
    affiliation = s.ChoiceField(["mit_student", "mit_affiliate", "mit_listener", "public"])
    affiliation_verified = s.BooleanField(help_text="Roster, single sign-on or staff; not self.")
    lab_prize_eligible = s.BooleanField()


class Token(s.Serializer):
    id = s.IntegerField()
    name = s.CharField()
    prefix = s.CharField()
    created_at = s.DateTimeField()
    last_used_at = s.DateTimeField(allow_null=True)
    revoked_at = s.DateTimeField(allow_null=True)


class NewToken(Token):
    key = s.CharField(help_text="Shown once; only its hash is stored.")


class TokenCreate(s.Serializer):
    name = s.CharField(max_length=100)


class EditionBrief(s.Serializer):
    name = s.CharField()
    slug = s.CharField()
    time_zone = s.CharField()


class LabBrief(s.Serializer):
    id = s.CharField(help_text="The lab spec id, e.g. lab2-debias.")
    title = s.CharField()
    opens_at = s.DateTimeField()
    closes_at = s.DateTimeField()
    closes_at_display = s.CharField(help_text="The deadline in the edition's zone, named.")
    is_open = s.BooleanField()


class LabList(s.Serializer):
    edition = EditionBrief(allow_null=True)
    labs = LabBrief(many=True)


class Entry(s.Serializer):
    id = s.IntegerField()
    lab = s.CharField()
    file = s.CharField()
    sha256 = s.CharField()
    size_bytes = s.IntegerField()
    kind = s.CharField()
    created_at = s.DateTimeField()
    status = s.CharField(help_text="queued, running, scoring, scored, failed, timeout, ...")
    is_final = s.BooleanField()
    counts_toward_quota = s.BooleanField()
    queue_position = s.IntegerField(allow_null=True)
    reason = s.CharField(allow_blank=True)
    metrics = s.DictField(
        child=s.DictField(child=s.FloatField(allow_null=True)),
        help_text="Per split you may see ('public', later 'private'): metric name -> value.",
    )
    url = s.CharField()


class EntryUpload(s.Serializer):
    file = s.FileField(help_text="A model file, submission.py, or a .zip (see the README).")
    note = s.CharField(required=False, allow_blank=True)


class Column(s.Serializer):
    name = s.CharField()
    # DRF's stubs take `label` for the field's own label; a field named so is valid DRF.
    label = s.CharField()  # type: ignore[assignment]
    unit = s.CharField(allow_blank=True, allow_null=True)
    direction = s.CharField()


class Score(s.Serializer):
    value = s.FloatField(allow_null=True)
    ci_low = s.FloatField(allow_null=True, help_text="95 % confidence interval, low end.")
    ci_high = s.FloatField(allow_null=True, help_text="95 % confidence interval, high end.")


class BoardRow(s.Serializer):
    key = s.CharField()
    rank = s.IntegerField(allow_null=True)
    tied = s.BooleanField()
    name = s.CharField()
    reference = s.BooleanField()
    prize_eligible = s.BooleanField()
    affiliation_verified = s.BooleanField()
    metrics = s.DictField(child=s.FloatField(allow_null=True))
    scores = s.DictField(child=Score(), help_text="Each metric with its 95 % interval.")
    statistically_tied_with = s.IntegerField(
        allow_null=True, help_text="The rank this row is not significantly different from."
    )
    public_rank = s.IntegerField(allow_null=True, help_text="Private split: the public rank.")
    rank_change = s.IntegerField(allow_null=True, help_text="Places gained since public.")
    far_better_in_public = s.BooleanField()


class Leaderboard(s.Serializer):
    lab = s.CharField()
    edition = s.CharField()
    split = s.CharField()
    selection = s.CharField(help_text="Which entry stands for a student: best, latest, final.")
    ranking = s.DictField()
    columns = Column(many=True)
    ranked_at = s.DateTimeField(
        allow_null=True, help_text="When the board was last ranked (after each change)."
    )
    page = s.IntegerField()
    page_size = s.IntegerField()
    pages = s.IntegerField()
    total = s.IntegerField(help_text="Rows on the whole board.")
    rows = BoardRow(many=True)
    you = BoardRow(allow_null=True, help_text="Your own row, on this page or not.")


class Ballot(s.Serializer):
    novelty = s.IntegerField(allow_null=True, min_value=1, max_value=5)
    soundness = s.IntegerField(allow_null=True, min_value=1, max_value=5)
    clarity = s.IntegerField(allow_null=True, min_value=1, max_value=5)
    comment = s.CharField(allow_blank=True)
    complete = s.BooleanField()
    score = s.CharField(allow_blank=True)
    updated_at = s.DateTimeField(allow_null=True)


class BallotChange(s.Serializer):
    novelty = s.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    soundness = s.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    clarity = s.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    comment = s.CharField(required=False, allow_blank=True)


class PitchToScore(s.Serializer):
    id = s.IntegerField()
    name = s.CharField()
    title = s.CharField(allow_blank=True)
    slot = s.IntegerField(allow_null=True)
    state = s.CharField()
    ballot = Ballot()


class JudgingList(s.Serializer):
    edition = s.CharField()
    groups = PitchToScore(many=True)


class JudgeBallot(Ballot):
    judge = s.CharField()


class GroupScores(s.Serializer):
    group = s.CharField()
    ballots = JudgeBallot(many=True)


class StandingRow(s.Serializer):
    id = s.IntegerField()
    name = s.CharField()
    rank = s.IntegerField(allow_null=True)
    tied = s.BooleanField()
    insufficient = s.BooleanField()
    prize_eligible = s.BooleanField()
    final = s.CharField(allow_blank=True)
    final_decimal = s.FloatField(allow_null=True)
    judges_counted = s.IntegerField()
    incomplete_ballots = s.IntegerField()
    disagreement = s.CharField(allow_blank=True)
    mean_z = s.FloatField(allow_null=True)
    z_rank = s.IntegerField(allow_null=True)


class Standings(s.Serializer):
    edition = s.CharField()
    min_judges = s.IntegerField()
    groups = StandingRow(many=True)


# --- errors every operation may answer --------------------------------------------------

RETRY_AFTER = OpenApiResponse(
    Error, description="Too many requests: wait the seconds in the Retry-After header."
)
UNAUTHENTICATED = OpenApiResponse(Error, description="No valid token or session.")


def answers(ok: dict, *, denied: str = "", missing: str = "", bad: str = "", auth=True) -> dict:
    responses = dict(ok)
    if bad:
        responses[400] = OpenApiResponse(Error, description=bad)
    if auth:
        responses[401] = UNAUTHENTICATED
        responses[403] = OpenApiResponse(Error, description=denied or "Not allowed.")
    elif denied:
        responses[403] = OpenApiResponse(Error, description=denied)
    if missing:
        responses[404] = OpenApiResponse(Error, description=missing)
    responses[429] = RETRY_AFTER
    return responses


def _path(name: str, kind, example, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(name, value=example)],
    )


LAB_ID = _path("spec_id", str, "lab2-debias", "A lab id (its spec id), see GET /api/labs/.")
ENTRY_ID = _path("entry_id", int, 1, "An entry's number.")
TOKEN_ID = _path("token_id", int, 1, "One of your tokens' id.")
GROUP_ID = _path("group_id", int, 1, "A project group's id.")
EDITION_SLUG = _path("edition_slug", str, "iap-2027", "An edition's slug.")
EDITION = OpenApiParameter(
    "edition", str, description="An edition's slug; the current edition when left out."
)
SPLIT = OpenApiParameter(
    "split", str, enum=["public", "private"], description="Private only after the reveal."
)
PAGE = OpenApiParameter("page", int, description="1-based; a page past the last has no rows.")
PAGE_SIZE = OpenApiParameter("page_size", int, description="Rows per page: 100, at most 500.")

# POST and PUT save a pitch ballot alike.
SAVE: dict[str, Any] = {
    "parameters": [GROUP_ID],
    "tags": ["projects"],
    "request": BallotChange,
    "responses": answers(
        {200: Ballot},
        bad="A score outside 1-5, or scoring is closed.",
        denied="Judges without a conflict only.",
        missing="Not pitching.",
    ),
}


def _view(target: str, **operations):
    class Extension(OpenApiViewExtension):
        target_class = target

        def view_replacement(self):
            # drf-spectacular has loaded the dotted path given as target_class into the class.
            view = cast(type, self.target_class)
            return extend_schema_view(**operations)(type("Documented", (view,), {}))

    Extension.__name__ = target.rsplit(".", 1)[-1] + "Schema"
    return Extension


NOTEBOOK_UPLOAD = OpenApiExample(
    "From a notebook",
    description=(
        "requests.post(f'{SITE}/api/labs/lab2-debias/entries/', "
        "headers={'Authorization': f'Token {TOKEN}'}, files={'file': open('entry.zip', 'rb')})"
    ),
    value={"file": "entry.zip", "note": "dropout 0.2"},
    request_only=True,
)

EXTENSIONS = [
    _view(
        "accounts.api.MeApi",
        get=extend_schema(summary="Who am I", tags=["account"], responses=answers({200: Me})),
    ),
    _view(
        "accounts.api.TokenListApi",
        get=extend_schema(
            summary="My API tokens", tags=["account"], responses=answers({200: Token(many=True)})
        ),
        post=extend_schema(
            summary="Create an API token (the key is shown once)",
            tags=["account"],
            request=TokenCreate,
            responses=answers({201: NewToken}, bad="No name, too long, or 10 already active."),
        ),
    ),
    _view(
        "accounts.api.TokenDetailApi",
        delete=extend_schema(
            parameters=[TOKEN_ID],
            summary="Revoke one of my API tokens",
            tags=["account"],
            responses=answers({204: None}, missing="No such token of yours."),
        ),
    ),
    _view(
        "courses.api.LabListApi",
        get=extend_schema(
            summary="The current edition's labs",
            tags=["labs"],
            auth=[],
            responses={
                **answers({200: LabList}, auth=False),
                401: OpenApiResponse(Error, description="A token was sent and is not valid."),
            },
        ),
    ),
    _view(
        "submissions.api.LabEntriesApi",
        get=extend_schema(
            summary="My entries to a lab",
            tags=["entries"],
            parameters=[LAB_ID, EDITION],
            responses=answers({200: Entry(many=True)}, missing="No such lab."),
        ),
        post=extend_schema(
            summary="Upload an entry (multipart field 'file')",
            description=(
                "Checked before anything is queued; late, oversized, malformed or over-quota "
                "uploads are refused with 400 and the reason. Each person may upload at "
                "UPLOAD_RATE (429 with Retry-After beyond it)."
            ),
            tags=["entries"],
            parameters=[LAB_ID, EDITION],
            request={"multipart/form-data": EntryUpload},
            examples=[NOTEBOOK_UPLOAD],
            responses=answers(
                {201: Entry}, bad="Refused upload: the reason says why.", missing="No such lab."
            ),
        ),
    ),
    _view(
        "submissions.api.EntryApi",
        get=extend_schema(
            parameters=[ENTRY_ID],
            summary="One entry and its grading status",
            tags=["entries"],
            responses=answers({200: Entry}, missing="No such entry (or not yours)."),
        ),
    ),
    _view(
        "leaderboards.api.LeaderboardApi",
        get=extend_schema(
            summary="A lab's leaderboard",
            tags=["labs"],
            parameters=[LAB_ID, EDITION, SPLIT, PAGE, PAGE_SIZE],
            responses=answers(
                {200: Leaderboard},
                bad="page and page_size are whole numbers.",
                denied="Log in; the private split is shown after the reveal.",
                missing="No such lab or split.",
            ),
        ),
    ),
    _view(
        "projects.api.JudgingListApi",
        get=extend_schema(
            parameters=[EDITION_SLUG],
            summary="A judge's pitches to score",
            tags=["projects"],
            responses=answers({200: JudgingList}, denied="Judges only.", missing="No edition."),
        ),
    ),
    _view(
        "projects.api.BallotApi",
        get=extend_schema(
            parameters=[GROUP_ID],
            summary="My ballot for a pitch",
            tags=["projects"],
            responses=answers(
                {200: Ballot}, denied="Judges without a conflict only.", missing="Not pitching."
            ),
        ),
        post=extend_schema(summary="Save my ballot (send only the fields that changed)", **SAVE),
        put=extend_schema(summary="Save my ballot (same as POST)", **SAVE),
    ),
    _view(
        "projects.api.GroupScoresApi",
        get=extend_schema(
            parameters=[GROUP_ID],
            summary="Every judge's ballot for a group",
            tags=["projects"],
            responses=answers({200: GroupScores}, denied="Staff only.", missing="No such group."),
        ),
    ),
    _view(
        "projects.api.StandingsApi",
        get=extend_schema(
            parameters=[EDITION_SLUG],
            summary="Pitch standings",
            tags=["projects"],
            responses=answers({200: Standings}, denied="Staff only.", missing="No such edition."),
        ),
    ),
]
