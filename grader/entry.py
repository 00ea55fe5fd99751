"""Entry intake: check an uploaded file, zip or folder BEFORE anything runs, then unpack it.

Only the shape of the upload is examined here (names, sizes, kinds); the worker never loads
or imports the entry's contents, which happens in the sandbox alone.
"""

from __future__ import annotations

import errno
import io
import pickletools
import shutil
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from grader.errors import EntryRejected
from grader.specs import LabSpec

MAX_MEMBERS = 2000
MAX_NAME_BYTES = 255  # one part of a path: what Linux file systems take
MAX_RATIO = 100  # uncompressed / compressed, per member and overall
RATIO_FLOOR = 1024 * 1024  # small members may compress well: only larger ones are checked
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ts", ".torchscript")
JUNK = ("__MACOSX/", ".DS_Store", "__pycache__/")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
PICKLE_READ_CAP = 8 * 1024 * 1024  # a state dict's pickle is small; its tensors are apart

# What to do instead of a file that holds weights but no model, per framework.
WHOLE_MODEL_FIX = {
    "keras": (
        "save the whole model with model.save('model.keras'), or upload a submission.py "
        "that rebuilds the model and loads these weights"
    ),
    "torch": (
        "trace it with torch.jit.trace(model, example_input).save('model.pt') (or export it "
        "with torch.export), or upload a submission.py that rebuilds the model and loads "
        "these weights"
    ),
}

__all__ = ["EntryInfo", "EntryRejected", "inspect_entry", "recognise_model", "unpack_entry"]


@dataclass(frozen=True)
class EntryInfo:
    kind: str  # "keras", "torch" or "code"
    main: str  # relative path of the model file, SavedModel folder or submission.py
    files: tuple[str, ...]
    total_bytes: int
    songs: str | None  # relative path of songs.abc, if the entry includes generated songs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_junk(name: str) -> bool:
    return any(part in name for part in JUNK) or name.rsplit("/", 1)[-1].startswith("._")


def _check_name(name: str) -> str:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise EntryRejected(f"the zip contains an unsafe path {name!r} (absolute or Windows path)")
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        raise EntryRejected(f"the zip contains an unsafe path {name!r} ('..' is not allowed)")
    if not parts or len(name) > 400 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise EntryRejected(f"the zip contains a bad file name {name!r}")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise EntryRejected(f"the zip contains a file name part longer than {MAX_NAME_BYTES} bytes")
    return "/".join(parts)


def _refuse_file_and_folder(names: list[str]) -> None:
    """One path cannot be both a file and a folder ("data" and "data/x.txt"): unpacking it
    would fail half-way. Compared case-blind, like the duplicate check."""
    files = {n.lower() for n in names}
    for name in names:
        parts = name.lower().split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise EntryRejected(
                    f"the zip holds {folder!r} both as a file and as a folder (of {name!r})"
                )


def _caps(spec: LabSpec) -> tuple[int, int]:
    upload = spec.limits.entry_mb * 1024 * 1024
    return upload, 4 * upload  # (upload size, total unpacked size)


def _zip_files(path: Path, spec: LabSpec) -> list[tuple[str, int]]:
    _, total_cap = _caps(spec)
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # noqa: BLE001 - whatever a malformed archive raises is its own
        raise EntryRejected(f"the upload is not a readable zip file ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise EntryRejected(f"the zip has {len(infos)} files; at most {MAX_MEMBERS} allowed")
        seen: set[str] = set()
        files: list[tuple[str, int]] = []
        total = compressed = 0
        for info in infos:
            name = _check_name(info.filename.rstrip("/"))
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise EntryRejected(f"the zip contains a symbolic link {name!r}; links are refused")
            if info.flag_bits & 0x1:
                raise EntryRejected(f"{name!r} is encrypted; upload an unencrypted zip")
            if name.lower() in seen:
                raise EntryRejected(f"the zip contains {name!r} twice")
            seen.add(name.lower())
            if info.is_dir() or _is_junk(name + ("/" if info.is_dir() else "")):
                continue
            total += info.file_size
            compressed += info.compress_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
                raise EntryRejected(
                    f"{name!r} expands {ratio:.0f}x (more than {MAX_RATIO}x): refused as a zip bomb"
                )
            files.append((name, info.file_size))
        if total > total_cap:
            raise EntryRejected(
                f"the zip unpacks to {total / 1e6:.0f} MB; at most {total_cap / 1e6:.0f} MB allowed"
            )
        if total > RATIO_FLOOR and total / max(compressed, 1) > MAX_RATIO:
            raise EntryRejected("the zip expands more than 100x: refused as a zip bomb")
        _refuse_file_and_folder([name for name, _ in files])
        return files


def _dir_files(path: Path, spec: LabSpec) -> list[tuple[str, int]]:
    _, total_cap = _caps(spec)
    files: list[tuple[str, int]] = []
    total = 0
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            raise EntryRejected(f"the entry contains a symbolic link {rel!r}; links are refused")
        if not p.is_file() or _is_junk(rel):
            continue
        total += p.stat().st_size
        files.append((rel, p.stat().st_size))
        if len(files) > MAX_MEMBERS or total > total_cap:
            raise EntryRejected("the entry folder has too many files or is too large")
    return files


def _classify(names: list[str], spec: LabSpec) -> tuple[str, str, str | None]:
    """(kind, main, songs) of an entry given its file names."""
    saved_models = sorted(
        str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name == "saved_model.pb"
    )

    def in_saved_model(name: str) -> bool:
        return any(name.startswith(d + "/") or d == "." for d in saved_models)

    def shallowest(candidates: list[str]) -> list[str]:
        if not candidates:
            return []
        depth = min(n.count("/") for n in candidates)
        return sorted(n for n in candidates if n.count("/") == depth)

    code = shallowest([n for n in names if PurePosixPath(n).name == "submission.py"])
    models: list[tuple[str, str]] = [("keras", d) for d in saved_models]
    for n in names:
        suffix = PurePosixPath(n).suffix.lower()
        if in_saved_model(n):
            continue
        if suffix in KERAS_SUFFIXES:
            models.append(("keras", n))
        elif suffix in TORCH_SUFFIXES:
            models.append(("torch", n))
    songs = shallowest([n for n in names if PurePosixPath(n).name == "songs.abc"])
    song = songs[0] if songs else None
    accepted = ", ".join(spec.entry_kinds)

    if code and "code" in spec.entry_kinds:
        if len(code) > 1:
            raise EntryRejected(f"the entry has several submission.py files: {', '.join(code)}")
        return "code", code[0], song
    models = [m for m in models if m[0] in spec.entry_kinds] or models
    if not models:
        raise EntryRejected(
            "no entry found: include submission.py or one model file (.keras, .h5, a SavedModel "
            f"folder, .pt2 or TorchScript .pt); this lab accepts: {accepted}"
        )
    if len(models) > 1:
        listed = ", ".join(m[1] for m in models[:5])
        raise EntryRejected(
            f"the entry has several model files ({listed}): keep one, or add submission.py "
            "that loads the one to use"
        )
    kind, main = models[0]
    if kind not in spec.entry_kinds:
        raise EntryRejected(f"{main} is a {kind} model, but this lab accepts: {accepted}")
    return kind, main, song


def inspect_entry(path: Path | str, spec: LabSpec) -> EntryInfo:
    """Check an upload (file, .zip or folder) without running it; raises EntryRejected."""
    path = Path(path)
    upload_cap, _ = _caps(spec)
    if path.is_symlink() or not path.exists():
        raise EntryRejected(f"no entry at {path.name!r}")
    if path.is_dir():
        files = _dir_files(path, spec)
    else:
        size = path.stat().st_size
        if size > upload_cap:
            raise EntryRejected(
                f"the upload is {size / 1e6:.0f} MB; at most {upload_cap / 1e6:.0f} MB allowed"
            )
        if size == 0:
            raise EntryRejected("the upload is empty")
        if path.suffix.lower() == ".zip":
            files = _zip_files(path, spec)
        elif path.suffix.lower() == ".py":
            files = [("submission.py", size)]
        else:
            files = [(path.name, size)]
    if not files:
        raise EntryRejected("the entry contains no files")
    kind, main, songs = _classify([n for n, _ in files], spec)
    if kind in ("keras", "torch"):
        recognise_model(path, kind, main)
    return EntryInfo(
        kind=kind,
        main=main,
        files=tuple(n for n, _ in files),
        total_bytes=sum(s for _, s in files),
        songs=songs,
    )


def unpack_entry(path: Path | str, spec: LabSpec, dest: Path | str) -> EntryInfo:
    """Inspect, then unpack into `dest` (an empty or new folder). Raises EntryRejected."""
    path, dest = Path(path), Path(dest)
    info = inspect_entry(path, spec)
    dest.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        for rel in info.files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path / rel, dest / rel)
    elif path.suffix.lower() == ".zip":
        _extract(path, dest, set(info.files), _caps(spec)[1])
    else:
        shutil.copyfile(path, dest / info.files[0])
    return info


def _extract(path: Path, dest: Path, wanted: set[str], total_cap: int) -> None:
    """Unpack the checked members. What the archive's data raises while it is read (a bad
    CRC, a corrupt stream, an unsupported method) is the entry's fault, a refusal; an error
    writing our own disk is ours."""
    try:
        _extract_members(path, dest, wanted, total_cap)
    except EntryRejected:
        raise
    except OSError as exc:
        if exc.errno in _ENTRY_ERRNOS:
            raise EntryRejected(f"the zip cannot be unpacked ({exc.strerror})") from exc
        raise
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile, NotImplementedError...
        raise EntryRejected(f"the zip cannot be unpacked ({type(exc).__name__}: {exc})") from exc


# Errors a member's name or data can cause (not a full or failing disk, which are ours).
_ENTRY_ERRNOS = frozenset(
    {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.EILSEQ, errno.EINVAL}
)


def _extract_members(path: Path, dest: Path, wanted: set[str], total_cap: int) -> None:
    root = dest.resolve()
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = "/".join(PurePosixPath(info.filename.rstrip("/")).parts)
            if name not in wanted:
                continue
            target = (dest / name).resolve()
            if root not in target.parents:
                raise EntryRejected(f"the zip contains an unsafe path {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Count real bytes: a zip's declared sizes can lie.
            with zf.open(info) as src, open(target, "wb") as out:
                member = 0
                while block := src.read(1 << 20):
                    member += len(block)
                    written += len(block)
                    if member > info.file_size or written > total_cap:
                        raise EntryRejected(f"{name!r} unpacks larger than it declares: refused")
                    out.write(block)


# ------------------------------------------------------------ model files that cannot be graded
# Recognised from their bytes alone (zip member names, an HDF5 attribute name, pickle
# opcodes), never by loading or unpickling them: that happens only in a sandbox.


@contextmanager
def _open_member(path: Path, main: str) -> Iterator[IO[bytes] | None]:
    """The entry's main model file, opened for reading (None for a SavedModel folder)."""
    if path.is_dir():
        target = path / main
        if not target.is_file():
            yield None
            return
        with open(target, "rb") as f:
            yield f
    elif path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = {"/".join(PurePosixPath(i.filename).parts): i for i in zf.infolist()}
            info = names.get(main)
            if info is None or info.is_dir():
                yield None
                return
            with zf.open(info) as f:
                yield f
    else:
        with open(path, "rb") as f:
            yield f


def recognise_model(path: Path | str, kind: str, main: str) -> None:
    """Refuse (EntryRejected) a model file that holds no gradable model: weights only (Keras
    `save_weights`, an HDF5 file without a model config, a PyTorch state dict) or a
    `torch.save` pickle (which the grader never unpickles), with the fix spelled out."""
    name = PurePosixPath(main).name
    with _open_member(Path(path), main) as f:
        if f is None:
            return
        head = f.read(8)
        if kind == "keras":
            _recognise_keras(f, name, head)
        else:
            _recognise_torch(f, name, head)


def _weights_only(name: str, how: str, kind: str) -> EntryRejected:
    return EntryRejected(
        f"{name} holds weights only ({how}), not a model the grader can run: "
        f"{WHOLE_MODEL_FIX[kind]}."
    )


def _contains(f: IO[bytes], needle: bytes, first: bytes) -> bool:
    """Whether the stream (whose first bytes were `first`) contains `needle` anywhere."""
    tail = first
    while True:
        if needle in tail:
            return True
        block = f.read(1 << 20)
        if not block:
            return False
        tail = tail[-len(needle) :] + block


def _recognise_keras(f: IO[bytes], name: str, head: bytes) -> None:
    lower = name.lower()
    if lower.endswith(".weights.h5"):
        raise _weights_only(name, "Keras save_weights", "keras")
    if head.startswith(HDF5_SIGNATURE):
        # A whole model saved to HDF5 carries its architecture in the root attribute
        # "model_config"; HDF5 stores attribute names as plain text, never compressed, so
        # a file without those bytes has no such attribute (weights saved alone).
        if not _contains(f, b"model_config", head):
            raise _weights_only(name, "an HDF5 file without a model config", "keras")
        return
    if lower.endswith(".keras"):
        if not head.startswith(ZIP_SIGNATURE):
            raise EntryRejected(
                f"{name} is not a Keras model file (a .keras file is a zip that "
                "model.save('model.keras') writes)"
            )
        members = _zip_names(f, head)
        if members is not None and "config.json" not in members:
            if "model.weights.h5" in members:
                raise _weights_only(name, "no config.json", "keras")
            raise EntryRejected(f"{name} is not a Keras model file (it has no config.json)")


def _zip_names(f: IO[bytes], head: bytes) -> set[str] | None:
    """Member names of a zip stream, or None when it cannot be read as one."""
    data = io.BytesIO(head + f.read())
    try:
        with zipfile.ZipFile(data) as zf:
            return set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _recognise_torch(f: IO[bytes], name: str, head: bytes) -> None:
    if head.startswith(ZIP_SIGNATURE):
        data = io.BytesIO(head + f.read())
        try:
            zf = zipfile.ZipFile(data)
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # not a zip after all: loading it in the sandbox says what it is
        with zf:
            names = zf.namelist()
            parts = [PurePosixPath(n).parts for n in names]
            # TorchScript has code/ and constants.pkl; torch.export has models/.
            if any(len(p) > 1 and p[1] in ("code", "models") for p in parts) or any(
                p[-1] == "constants.pkl" for p in parts
            ):
                return
            pickles = [n for n in names if PurePosixPath(n).name == "data.pkl"]
            if not pickles:
                return
            info = zf.getinfo(pickles[0])
            with zf.open(info) as member:
                pickle = member.read(PICKLE_READ_CAP)
        raise _torch_pickle(name, pickle)
    if head[:1] == b"\x80":
        # The legacy (pre-1.6) torch.save format: pickles one after another.
        raise _torch_pickle(name, head + f.read(PICKLE_READ_CAP))


def _globals_of(pickle: bytes) -> set[str]:
    """The classes and functions a pickle names ("module name"), read from its opcodes
    without running it."""
    found: set[str] = set()
    strings: list[str] = []
    stream = io.BytesIO(pickle)
    # The legacy torch.save writes several pickles in a row (magic number, protocol, system
    # information, then the object): read the first few.
    for _ in range(5):
        if stream.tell() >= len(pickle):
            break
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(str(arg))
                elif op.name == "GLOBAL":
                    found.add(str(arg).replace("\n", " "))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.add(f"{strings[-2]} {strings[-1]}")
                if op.name == "STOP":
                    break
            else:
                break
        except (ValueError, EOFError, UnicodeDecodeError):
            break  # a cut or odd pickle: what was read so far still tells
    return found


def _torch_pickle(name: str, pickle: bytes) -> EntryRejected:
    names = _globals_of(pickle)
    modules = {n.split(" ", 1)[0] for n in names}
    tensors_only = modules <= {"collections", "torch._utils", "torch", "builtins"} and any(
        n.startswith("torch._utils _rebuild") for n in names
    )
    if tensors_only:
        return _weights_only(name, "a PyTorch state dict saved with torch.save", "torch")
    return EntryRejected(
        f"{name} is a pickled PyTorch model (torch.save(model)), which the grader never "
        "unpickles (a pickle can run any code) and which cannot be rebuilt without your "
        f"class's source: {WHOLE_MODEL_FIX['torch']}."
    )
