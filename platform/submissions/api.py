from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Lab
from courses.selectors import edition_current

from .models import Entry
from .selectors import (
    access_entry,
    entries_of,
    entry_latest_run,
    run_queue_position,
    visible_metrics,
    visible_private_session,
)
from .services import intake


def entry_data(entry: Entry, user) -> dict:
    run = entry_latest_run(entry)
    return {
        "id": entry.pk,
        "lab": entry.lab.spec_id,
        "file": entry.original_name,
        "sha256": entry.sha256,
        "size_bytes": entry.size_bytes,
        "kind": entry.kind,
        "created_at": entry.created_at.isoformat(),
        "status": entry.status,
        "is_final": entry.is_final,
        "counts_toward_quota": entry.counts_toward_quota,
        "queue_position": run_queue_position(run) if run else None,
        "reason": run.reason if run else "",
        "metrics": visible_metrics(entry, run, user),
        "log": run.logs if run else "",
        # The private episodes' session (interactive labs): null until the reveal.
        "private_session": visible_private_session(entry, run, user),
        "url": f"/entries/{entry.pk}/",
    }


def _lab(spec_id: str, request) -> Lab:
    slug = request.query_params.get("edition")
    labs = Lab.objects.select_related("edition")
    if slug:
        return get_object_or_404(labs, edition__slug=slug, spec_id=spec_id)
    return get_object_or_404(labs, edition=edition_current(), spec_id=spec_id)


class LabEntriesApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"  # accounts.throttles.UploadRateThrottle: per person

    def get(self, request, spec_id: str):
        lab = _lab(spec_id, request)
        return Response([entry_data(e, request.user) for e in entries_of(request.user, lab)])

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
        return Response(entry_data(entry, request.user), status=status.HTTP_201_CREATED)


class EntryApi(APIView):
    def get(self, request, entry_id: int):
        return Response(entry_data(access_entry(request.user, entry_id), request.user))
