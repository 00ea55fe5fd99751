"""Staff bring their own hidden sets: a bundle checked against its manifest and lab spec,
stored by digest; the newest set of a lab grades every new run (workers fetch it by SHA-256).
"""

import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from accounts.models import User
from core.errors import Refused
from grader.errors import PlatformError
from grader.specs import load_spec

from .. import blobs
from ..models import HiddenSet, hidden_set_path
from .intake import SubmissionRefused, _stage_upload


class HiddenSetRefused(Refused):
    """The uploaded bundle is not a usable hidden set; the message says why."""


def hidden_set_upload(*, user: User, spec_id: str, upload: UploadedFile) -> HiddenSet:
    """Check a staff-uploaded set bundle against its lab spec and store it as the new version.

    The bundle is a zip of a set folder as `python -m grader dataset build` writes it
    (manifest.json, inputs/, labels/). Every file must match the manifest; the checksum
    recorded is the one recomputed from the files.
    """
    from grader.datasets import verify_set

    if not user.is_course_staff:
        raise HiddenSetRefused("Only staff can upload hidden sets.")
    try:
        spec = load_spec(spec_id)
    except PlatformError as error:
        raise HiddenSetRefused(str(error)) from None
    limit = settings.HIDDEN_SET_MAX_MB * 2**20
    staging = Path(settings.MEDIA_ROOT) / "staging"
    try:
        staged, sha256, size = _stage_upload(upload, limit, staging)
    except SubmissionRefused as refused:
        raise HiddenSetRefused(str(refused)) from None
    try:
        if HiddenSet.objects.filter(bundle_sha256=sha256).exists():
            raise HiddenSetRefused("This bundle was uploaded already.")
        with tempfile.TemporaryDirectory(dir=staging) as tmp:
            set_dir = Path(tmp) / spec.data.name
            try:
                blobs.unpack_bundle(staged, set_dir, limit)
            except blobs.BundleRefused as refused:
                raise HiddenSetRefused(f"Not a set bundle: {refused}") from None
            checksum, problems = verify_set(set_dir)
            if problems or checksum is None:
                why = "; ".join(problems)
                raise HiddenSetRefused(f"The set does not match its manifest: {why}")
            lab = json.loads((set_dir / "manifest.json").read_text(encoding="utf-8")).get("lab")
            if lab != spec.id:
                raise HiddenSetRefused(f"The manifest is for lab {lab!r}, not {spec.id}.")
        hidden_set = HiddenSet(
            spec_id=spec.id,
            name=spec.data.name,
            checksum=checksum,
            bundle_sha256=sha256,
            size_bytes=size,
            uploaded_by=user,
        )
        relative = hidden_set_path(hidden_set, "bundle.zip")
        target = Path(settings.MEDIA_ROOT) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        hidden_set.bundle = relative
        try:
            hidden_set.save()
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    finally:
        staged.unlink(missing_ok=True)
    return hidden_set
