from typing import cast

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_schema import answers, path_parameter, query_parameter
from courses.models import Lab
from courses.selectors import edition_current

from .models import Entry, GradingRun
from .selectors import (
    access_entry,
    entries_of,
    entry_latest_run,
    run_queue_position,
    visible_metrics,
    visible_private_session,
)
from .services import intake


class PrivateSessionSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="scored, or how the private-split run failed.")
    reason = serializers.CharField(allow_blank=True, required=False)
    logs = serializers.CharField(allow_blank=True, required=False)
    wall_time_s = serializers.FloatField(required=False)


class EntrySerializer(serializers.Serializer):
    """An entry and its latest grading run, as `context["user"]` (its owner, or staff) may
    see it: the metrics of each split they may see, the private session after the reveal."""

    id = serializers.IntegerField()
    lab = serializers.CharField(source="lab.spec_id", help_text="The lab's id, e.g. lab2-debias.")
    file = serializers.CharField(source="original_name")
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="queued, running, scoring, scored, failed, ...")
    is_final = serializers.BooleanField()
    counts_toward_quota = serializers.BooleanField()
    queue_position = serializers.SerializerMethodField(help_text="1: graded next; else null.")
    reason = serializers.SerializerMethodField(help_text="Why the run failed, in a sentence.")
    metrics = serializers.SerializerMethodField(
        help_text="Per split you may see ('public', later 'private'): metric name -> value."
    )
    log = serializers.SerializerMethodField(help_text="What the entry printed (capped).")
    private_session = serializers.SerializerMethodField(
        help_text=(
            "How the entry's private-split run went (run after its author's window closed); "
            "null until the reveal reaches the asker."
        )
    )
    url = serializers.SerializerMethodField(help_text="The entry's page on the site.")

    def _run(self, entry: Entry) -> GradingRun | None:
        runs = cast(dict, self.context).setdefault("latest_runs", {})
        if entry.pk not in runs:
            runs[entry.pk] = entry_latest_run(entry)
        return runs[entry.pk]

    def get_queue_position(self, entry: Entry) -> int | None:
        run = self._run(entry)
        return run_queue_position(run) if run else None

    def get_reason(self, entry: Entry) -> str:
        run = self._run(entry)
        return run.reason if run else ""

    @extend_schema_field(
        serializers.DictField(
            child=serializers.DictField(child=serializers.FloatField(allow_null=True))
        )
    )
    def get_metrics(self, entry: Entry) -> dict:
        return visible_metrics(entry, self._run(entry), self.context["user"])

    def get_log(self, entry: Entry) -> str:
        run = self._run(entry)
        return run.logs if run else ""

    @extend_schema_field(PrivateSessionSerializer(allow_null=True))
    def get_private_session(self, entry: Entry) -> dict | None:
        session = visible_private_session(entry, self._run(entry), self.context["user"])
        return PrivateSessionSerializer(session).data if session else None

    def get_url(self, entry: Entry) -> str:
        return f"/entries/{entry.pk}/"


class EntryUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A model file, submission.py, or a .zip (see the README)."
    )
    note = serializers.CharField(required=False, allow_blank=True)


def _lab(spec_id: str, request) -> Lab:
    slug = request.query_params.get("edition")
    labs = Lab.objects.select_related("edition")
    if slug:
        return get_object_or_404(labs, edition__slug=slug, spec_id=spec_id)
    return get_object_or_404(labs, edition=edition_current(), spec_id=spec_id)


LAB_ID = path_parameter(
    "spec_id", str, "lab2-debias", "A lab id (its spec id), see GET /api/labs/."
)
EDITION = query_parameter("edition", str, "An edition's slug; the current edition when left out.")
NOTEBOOK_UPLOAD = OpenApiExample(
    "From a notebook",
    description=(
        "requests.post(f'{SITE}/api/labs/lab2-debias/entries/', "
        "headers={'Authorization': f'Token {TOKEN}'}, files={'file': open('entry.zip', 'rb')})"
    ),
    value={"file": "entry.zip", "note": "dropout 0.2"},
    request_only=True,
)


class LabEntriesApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"  # accounts.throttles.UploadRateThrottle: per person

    @extend_schema(
        summary="My entries to a lab",
        tags=["entries"],
        parameters=[LAB_ID, EDITION],
        responses=answers({200: EntrySerializer(many=True)}, missing="No such lab."),
    )
    def get(self, request, spec_id: str):
        lab = _lab(spec_id, request)
        entries = entries_of(request.user, lab)
        return Response(EntrySerializer(entries, many=True, context={"user": request.user}).data)

    @extend_schema(
        summary="Upload an entry (multipart field 'file')",
        description=(
            "Checked before anything is queued; late, oversized, malformed or over-quota "
            "uploads are refused with 400 and the reason. Each person may upload at "
            "UPLOAD_RATE (429 with Retry-After beyond it)."
        ),
        tags=["entries"],
        parameters=[LAB_ID, EDITION],
        request={"multipart/form-data": EntryUploadSerializer},
        examples=[NOTEBOOK_UPLOAD],
        responses=answers(
            {201: EntrySerializer},
            bad="Refused upload: the reason says why.",
            missing="No such lab.",
        ),
    )
    def post(self, request, spec_id: str):
        lab = _lab(spec_id, request)
        upload = request.FILES.get("file")
        if upload is None:
            return Response(
                {"detail": "Send the entry as a multipart field named 'file'."}, status=400
            )
        note = request.data.get("note", "")
        if not isinstance(note, str):
            return Response({"detail": "note must be text."}, status=400)
        entry = intake.entry_submit(user=request.user, lab=lab, upload=upload, note=note)
        data = EntrySerializer(entry, context={"user": request.user}).data
        return Response(data, status=status.HTTP_201_CREATED)


class EntryApi(APIView):
    @extend_schema(
        parameters=[path_parameter("entry_id", int, 1, "An entry's number.")],
        summary="One entry and its grading status",
        tags=["entries"],
        responses=answers({200: EntrySerializer}, missing="No such entry (or not yours)."),
    )
    def get(self, request, entry_id: int):
        entry = access_entry(request.user, entry_id)
        return Response(EntrySerializer(entry, context={"user": request.user}).data)
