"""Uploads and hidden-set bundles reach a worker on any machine, verified by SHA-256.

The site serves a stored file to workers at `/internal/blobs/<sha256>/` when they show the
deployment's worker token. A worker keeps what it fetched in GRADER_CACHE_DIR, named by
SHA-256, and checks the bytes against that name before every use: a cached file that
changed is thrown away and fetched again. The worker trusts no path from the database:
only digests and names, and it reads bytes from the site (or, with no PLATFORM_SITE_URL,
from the site's storage on the same machine) and checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from grader.hidden import compute_checksum

from .models import Entry, HiddenSet

logger = logging.getLogger(__name__)

SHA256 = re.compile(r"^[0-9a-f]{64}$")
SPEC_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_TOKEN_LENGTH = 32
CHUNK = 1 << 20


class BlobUnavailable(Exception):
    """A file could not be had intact (a platform fault: the run is retried)."""


# ---------------------------------------------------------------------------- site side


def worker_token_ok(header: str) -> bool:
    """True for `Bearer <the deployment's worker token>`; never for a short or unset token."""
    token = settings.PLATFORM_WORKER_TOKEN
    if len(token) < MIN_TOKEN_LENGTH:
        return False
    scheme, _, given = header.partition(" ")
    return scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def stored_file_for(sha256: str):
    """The stored upload or bundle with this digest, opened for reading, or None."""
    if not SHA256.match(sha256):
        return None
    entry = Entry.objects.filter(sha256=sha256).only("file").first()
    if entry is not None:
        return entry.file.open("rb")
    hidden_set = HiddenSet.objects.filter(bundle_sha256=sha256).only("bundle").first()
    if hidden_set is not None:
        return hidden_set.bundle.open("rb")
    return None


# ---------------------------------------------------------------------------- worker side


def _cache() -> Path:
    return Path(settings.GRADER_CACHE_DIR)


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _copy_verified(source, sha256: str, limit: int) -> Path:
    """Stream `source` into the cache as <sha256>, refusing it unless the digest matches."""
    blobs = _cache() / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".fetch-")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                size += len(chunk)
                if size > limit:
                    raise BlobUnavailable(f"{sha256}: larger than {limit // 2**20} MB")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise BlobUnavailable(f"{sha256}: the bytes received have sha256 {digest.hexdigest()}")
        target = blobs / sha256
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fetch(sha256: str, limit: int) -> Path:
    if settings.PLATFORM_SITE_URL:
        if len(settings.PLATFORM_WORKER_TOKEN) < MIN_TOKEN_LENGTH:
            raise BlobUnavailable("PLATFORM_WORKER_TOKEN is unset or shorter than 32 characters")
        url = f"{settings.PLATFORM_SITE_URL}/internal/blobs/{sha256}/"
        if not url.startswith(("http://", "https://")):
            raise BlobUnavailable("PLATFORM_SITE_URL must be an http:// or https:// address")
        request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
            url,
            headers={"Authorization": f"Bearer {settings.PLATFORM_WORKER_TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return _copy_verified(response, sha256, limit)
        except (urllib.error.URLError, OSError) as error:
            raise BlobUnavailable(f"{sha256}: cannot fetch it from the site: {error}") from error
    # One machine: the site's own storage, still checked against the digest.
    source = stored_file_for(sha256)
    if source is None:
        raise BlobUnavailable(f"{sha256}: no stored file has this digest")
    with source:
        return _copy_verified(source, sha256, limit)


def cached_blob(sha256: str, limit: int) -> Path:
    """A local, verified copy of the stored file with this digest (fetched when needed)."""
    if not SHA256.match(sha256):
        raise BlobUnavailable(f"{sha256!r} is not a SHA-256 digest")
    path = _cache() / "blobs" / sha256
    if path.is_file():
        if _sha256_of(path) == sha256:
            return path
        logger.warning("cached file %s changed on disk: fetching it again", sha256)
        path.unlink()
    return _fetch(sha256, limit)


def entry_copy(entry: Entry, into: Path) -> Path:
    """The entry's file under its (already sanitised) original name, in a folder of ours."""
    blob = cached_blob(entry.sha256, 4 * 2**30)
    name = PurePosixPath(entry.original_name.replace("\\", "/")).name or "entry"
    into.mkdir(parents=True, exist_ok=True)
    target = into / name
    shutil.copyfile(blob, target)
    return target


def current_hidden_set(spec_id: str) -> HiddenSet | None:
    return HiddenSet.objects.filter(spec_id=spec_id).first()


def hidden_set_dir(hidden_set: HiddenSet) -> Path:
    """A hidden-dir root holding the set, unpacked from its bundle and matching its checksum."""
    root = _cache() / "sets" / hidden_set.bundle_sha256
    set_dir = root / hidden_set.name
    if set_dir.is_dir() and compute_checksum(set_dir) == hidden_set.checksum:
        return root
    if root.exists():
        logger.warning("cached set %s changed on disk: unpacking it again", hidden_set.name)
        shutil.rmtree(root)
    blob = cached_blob(hidden_set.bundle_sha256, settings.HIDDEN_SET_MAX_MB * 2**20)
    staging = Path(tempfile.mkdtemp(dir=_cache(), prefix=".set-"))
    try:
        unpack_bundle(blob, staging / hidden_set.name, settings.HIDDEN_SET_MAX_MB * 2**20)
        if compute_checksum(staging / hidden_set.name) != hidden_set.checksum:
            raise BlobUnavailable(f"bundle {hidden_set.bundle_sha256} does not hold its set")
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root


# ---------------------------------------------------------------------------- samples


def sample_zip(spec_id: str) -> bytes | None:
    """The lab's public sample folder zipped under samples/<lab id>/ (None when it has none)."""
    import io

    if not SPEC_ID.match(spec_id):
        return None
    root = Path(settings.GRADER_HIDDEN_DIR) / "samples" / spec_id
    if not (root / "labels").is_dir():
        return None
    buffer = io.BytesIO()
    real_root = root.resolve()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            # Plain files only: a link in the data folder must not pull in anything else.
            if (
                path.is_file()
                and not path.is_symlink()
                and path.resolve().is_relative_to(real_root)
                and not path.name.startswith(".")
            ):
                info = zipfile.ZipInfo(
                    f"samples/{spec_id}/{path.relative_to(root).as_posix()}",
                    date_time=(1980, 1, 1, 0, 0, 0),
                )
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


# ---------------------------------------------------------------------------- bundles


class BundleRefused(Exception):
    """The zip is not a hidden-set bundle; the message says why."""


def unpack_bundle(zip_path: Path, dest: Path, limit: int) -> None:
    """Unpack a set's zip (manifest.json, inputs/, labels/) with every member checked.

    Plain files only, under inputs/ or labels/ (or manifest.json), no absolute or `..`
    paths, no links, and at most `limit` bytes in all.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > limit:
                raise BundleRefused(f"the bundle unpacks to more than {limit // 2**20} MB")
            dest.mkdir(parents=True)
            (dest / "inputs").mkdir()
            (dest / "labels").mkdir()
            for member in members:
                name = member.filename
                parts = PurePosixPath(name).parts
                if member.is_dir():
                    if parts and parts[0] in ("inputs", "labels") and ".." not in parts:
                        continue  # folders are made with their files
                    raise BundleRefused(f"{name}: only manifest.json, inputs/ and labels/")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise BundleRefused(f"{name}: links are not allowed")
                if (
                    name.startswith("/")
                    or "\\" in name
                    or ".." in parts
                    or not (name == "manifest.json" or parts[0] in ("inputs", "labels"))
                ):
                    raise BundleRefused(f"{name}: only manifest.json, inputs/ and labels/")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
    except (zipfile.BadZipFile, OSError) as error:
        raise BundleRefused(f"not a readable zip: {error}") from error
