"""Bounded handling of everything an entry leaves behind: its output folder, and the files in it.

The entry shapes these trees and files, and it has read this code. So every walk here is
iterative (an explicit stack, never Python recursion), opens folders relative to their parent
with O_NOFOLLOW (never a link, and no path ever grows past PATH_MAX), and stops at limits on
depth, number of entries and total size. FIFOs, sockets and device files are never opened.
Arrays are checked from their .npy header (dtype, shape, exact size) before a byte of data is
read, and JSON is read only up to a size cap.

Both sandbox backends collect and remove their workspaces through `collect` and `remove_tree`;
scoring reads outputs through `load_npy` and `read_json`.
"""

from __future__ import annotations

import ast
import errno
import io
import itertools
import json
import logging
import os
import stat
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from grader.errors import PlatformError

log = logging.getLogger(__name__)

MAX_DEPTH = 16  # folders below the output folder
MAX_ENTRIES = 1000  # files, folders and anything else, together
CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Removal gives up only after this many operations (a live process refilling the tree).
MAX_REMOVALS = 50_000_000
NPY_MAGIC = b"\x93NUMPY"
NPY_MAX_HEADER = 65536  # numpy writes at most a few hundred bytes


class OutputsRefused(Exception):
    """The entry's outputs break a limit or cannot be read; the message is for the student."""


@dataclass(frozen=True)
class TreeLimits:
    max_bytes: int
    max_depth: int = MAX_DEPTH
    max_entries: int = MAX_ENTRIES

    @classmethod
    def for_output_mb(cls, output_mb: int) -> TreeLimits:
        return cls(max_bytes=output_mb * 1024 * 1024)


# --- walking and collecting ------------------------------------------------------------------


def _open_dir(parent_fd: int, name: str) -> int:
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _open_chain(root_fd: int, parts: tuple[str, ...]) -> int:
    """A new fd of root/parts[0]/parts[1]/..., each step without following links."""
    fd = os.dup(root_fd)
    for name in parts:
        try:
            nxt = _open_dir(fd, name)
        finally:
            os.close(fd)
        fd = nxt
    return fd


def _walk(src: Path | int, limits: TreeLimits, dest: Path | None) -> int:
    """Walk `src` (a path, or an open folder's descriptor) within `limits`, copying plain
    files to `dest` when given; total bytes.

    Raises OutputsRefused when a limit is broken. Folders that vanish or cannot be opened are
    skipped, so are links and special files: they are not outputs."""
    try:
        if isinstance(src, int):
            root_fd = os.open(".", _DIR_FLAGS, dir_fd=src)  # a descriptor of our own
        else:
            root_fd = os.open(src, _DIR_FLAGS)
    except OSError as exc:
        raise OutputsRefused(f"your entry's output folder cannot be read ({exc.strerror})") from exc
    dest_root = -1
    try:
        if dest is not None:
            dest.mkdir(parents=True, exist_ok=True)
            dest_root = os.open(dest, _DIR_FLAGS)
        stack: list[tuple[str, ...]] = [()]
        entries = 0
        total = 0
        while stack:
            parts = stack.pop()
            try:
                fd = _open_chain(root_fd, parts)
            except OSError:
                continue
            out_fd = -1
            try:
                if dest is not None:
                    out_fd = _open_chain(dest_root, parts)
                with os.scandir(fd) as it:
                    for item in it:
                        entries += 1
                        if entries > limits.max_entries:
                            raise OutputsRefused(
                                "your entry's output folder holds more than "
                                f"{limits.max_entries} files and folders"
                            )
                        if item.is_dir(follow_symlinks=False):
                            if len(parts) + 1 > limits.max_depth:
                                raise OutputsRefused(
                                    "your entry's output folder has folders nested more than "
                                    f"{limits.max_depth} deep"
                                )
                            if out_fd >= 0:
                                os.mkdir(item.name, 0o700, dir_fd=out_fd)
                            stack.append((*parts, item.name))
                        elif item.is_file(follow_symlinks=False):
                            size = item.stat(follow_symlinks=False).st_size
                            total += size
                            if total > limits.max_bytes:
                                raise OutputsRefused(
                                    "your entry's outputs are larger than "
                                    f"{limits.max_bytes // 2**20} MB in total"
                                )
                            if out_fd >= 0:
                                _copy_file(fd, out_fd, item.name, size)
            finally:
                os.close(fd)
                if out_fd >= 0:
                    os.close(out_fd)
        return total
    finally:
        os.close(root_fd)
        if dest_root >= 0:
            os.close(dest_root)


def _copy_file(src_fd: int, dest_fd: int, name: str, size: int) -> None:
    """Copy at most `size` bytes of a regular file; anything else is skipped."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=src_fd)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        try:
            out = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dest_fd
            )
        except OSError as exc:
            raise PlatformError(f"cannot write the collected outputs: {exc}") from exc
        try:
            left = size
            while left > 0:
                try:
                    chunk = os.read(fd, min(CHUNK, left))
                except OSError as exc:
                    raise OutputsRefused(
                        f"your entry's output {name!r} cannot be read ({exc.strerror})"
                    ) from exc
                if not chunk:
                    break
                left -= len(chunk)
                try:
                    os.write(out, chunk)
                except OSError as exc:
                    raise PlatformError(f"cannot write the collected outputs: {exc}") from exc
        finally:
            os.close(out)
    finally:
        os.close(fd)


def collect(src: Path | int, dest: Path, limits: TreeLimits) -> str | None:
    """Copy the plain files of the entry's output folder `src` (a path, or a descriptor of
    the folder, e.g. a sandbox's tmpfs) to `dest`, within `limits`.

    Returns None, or why the outputs are refused (for the student: the entry's fault). Only a
    failure on the worker's side (writing `dest`) raises, as PlatformError."""
    try:
        _walk(src, limits, None)  # refused before a byte is copied
        _walk(src, limits, dest)
    except OutputsRefused as exc:
        return str(exc)
    except PlatformError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the outputs cause is the entry's fault
        log.exception("collecting outputs from %s", src)
        return f"your entry's output folder could not be collected ({type(exc).__name__})"
    return None


def check(src: Path, limits: TreeLimits) -> str | None:
    """Like `collect` without copying: None while the folder is within `limits`."""
    try:
        _walk(src, limits, None)
    except OutputsRefused as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever the outputs cause is the entry's fault
        return f"your entry's output folder could not be read ({type(exc).__name__})"
    return None


# --- removing ---------------------------------------------------------------------------------


def _open_emptiable(parent_fd: int, name: str) -> int:
    """A readable fd of folder `name` whose entries we may remove, whatever its mode was."""
    path_fd = os.open(
        name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd
    )
    try:
        try:
            # O_PATH fds take no fchmod; their /proc link reaches exactly this folder.
            os.chmod(f"/proc/self/fd/{path_fd}", 0o700)
        except OSError:
            pass
        return os.open(".", _DIR_FLAGS, dir_fd=path_fd)
    finally:
        os.close(path_fd)


def remove_tree(path: Path, batch: int = 4096) -> bool:
    """Remove `path` and everything under it; True when nothing is left.

    Never recursive, never follows a link, holds two open folders at most whatever the depth:
    every folder found inside another is first moved up into `path` itself (under a fresh
    name), so the tree is flattened as it is emptied. Folders an entry made unreadable or
    read-only are made ours first. Gives up (False, logged) only when a whole batch of
    entries resists removal."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        log.warning("cannot remove %s", path, exc_info=True)
        return False
    try:
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
            return True
        parent_fd = os.open(path.parent, _DIR_FLAGS)
        try:
            root_fd = _open_emptiable(parent_fd, path.name)
        finally:
            os.close(parent_fd)
    except OSError:
        log.warning("cannot remove %s", path, exc_info=True)
        return False
    fresh = itertools.count()
    done = 0
    try:
        while done < MAX_REMOVALS:
            names = _some_entries(root_fd, batch)
            if not names:
                break
            progress = 0
            for name, is_dir in names:
                if not is_dir:
                    progress += _unlink(root_fd, name)
                    continue
                try:
                    fd = _open_emptiable(root_fd, name)
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                        progress += _unlink(root_fd, name)  # replaced by a file or a link
                    continue
                try:
                    progress += _empty_one_level(fd, root_fd, fresh, batch)
                finally:
                    os.close(fd)
                try:
                    os.rmdir(name, dir_fd=root_fd)
                    progress += 1
                except OSError:
                    pass
            done += progress
            if not progress:
                break
    finally:
        os.close(root_fd)
    try:
        os.rmdir(path)
    except OSError:
        log.warning("could not remove all of %s", path, exc_info=True)
        return False
    return True


def _some_entries(dir_fd: int, n: int) -> list[tuple[str, bool]]:
    """Up to n (name, is a folder) of a folder; a fresh listing each call."""
    with os.scandir(dir_fd) as it:
        return [(e.name, e.is_dir(follow_symlinks=False)) for e in itertools.islice(it, n)]


def _empty_one_level(fd: int, root_fd: int, fresh: Iterator[int], batch: int) -> int:
    """Unlink what is in folder `fd` and move its folders up into the root; operations done."""
    done = 0
    for _ in range(MAX_REMOVALS // batch + 1):  # bounded even if something refills it
        names = _some_entries(fd, batch)
        if not names:
            return done
        progress = 0
        for name, is_dir in names:
            if not is_dir:
                progress += _unlink(fd, name)
                continue
            for _ in range(100):
                try:
                    os.rename(name, f".rm{next(fresh)}", src_dir_fd=fd, dst_dir_fd=root_fd)
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                        continue  # that name is taken in the root: try the next
                    break
                progress += 1
                break
        done += progress
        if not progress:
            return done
    return done


def _unlink(dir_fd: int, name: str) -> int:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return 1
    except OSError:
        return 0
    return 1


# --- reading files -----------------------------------------------------------------------------


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a link or blocking on a FIFO."""
    try:
        fd = os.open(path, _FILE_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise OutputsRefused(f"{path.name} cannot be read ({exc.strerror})") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputsRefused(f"{path.name} is not a plain file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes`; OutputsRefused if larger."""
    with open_regular(path) as f:
        if os.fstat(f.fileno()).st_size > max_bytes:
            raise OutputsRefused(f"{path.name} is larger than {max_bytes} bytes")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OutputsRefused(f"{path.name} is larger than {max_bytes} bytes")
    return data


def read_json(path: Path, max_bytes: int = 65536) -> Any:
    """JSON from a file of at most `max_bytes`; OutputsRefused when it is not readable JSON.

    Deep nesting makes the json module recurse: that, too, is the file's fault."""
    data = read_bounded(path, max_bytes)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise OutputsRefused(f"{path.name} is not valid JSON") from exc


# --- .npy arrays, checked from their header -------------------------------------------------------


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool
    offset: int  # where the data starts

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def data_bytes(self) -> int:
        return self.count * self.dtype.itemsize


def read_npy_header(f: BinaryIO) -> NpyHeader:
    """Parse a .npy header (format 1.0, 2.0 or 3.0) without numpy's loader; ValueError if bad.

    Only plain numeric dtypes pass: booleans, integers and floats of at most 8 bytes, never
    objects, records, sub-arrays or strings."""
    magic = f.read(8)
    if len(magic) != 8 or magic[:6] != NPY_MAGIC:
        raise ValueError("not a .npy file")
    major = magic[6]
    if major == 1:
        raw = f.read(2)
        hlen = int.from_bytes(raw, "little") if len(raw) == 2 else -1
        offset = 10
    elif major in (2, 3):
        raw = f.read(4)
        hlen = int.from_bytes(raw, "little") if len(raw) == 4 else -1
        offset = 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if not 0 < hlen <= NPY_MAX_HEADER:
        raise ValueError("bad .npy header length")
    text = f.read(hlen)
    if len(text) != hlen:
        raise ValueError("truncated .npy header")
    try:
        header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin1"))
    except (ValueError, SyntaxError, RecursionError, MemoryError, UnicodeDecodeError) as exc:
        raise ValueError("unreadable .npy header") from exc
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("bad .npy header keys")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or len(descr) > 8 or not isinstance(fortran, bool):
        raise ValueError("the array is not of a plain numeric type")
    if not isinstance(shape, tuple) or len(shape) > 32:
        raise ValueError("bad .npy shape")
    if not all(type(d) is int and 0 <= d < 2**62 for d in shape):
        raise ValueError("bad .npy shape")
    try:
        dtype = np.dtype(descr)
    except TypeError as exc:
        raise ValueError("the array is not of a plain numeric type") from exc
    if dtype.kind not in "fiub" or dtype.itemsize > 8 or dtype.hasobject or dtype.fields:
        raise ValueError("the array is not of a plain numeric type")
    if dtype.subdtype is not None:
        raise ValueError("the array is not of a plain numeric type")
    return NpyHeader(shape=shape, dtype=dtype, fortran_order=fortran, offset=offset + hlen)


def _array_from(f: BinaryIO, header: NpyHeader) -> np.ndarray[Any, Any]:
    """Exactly header.data_bytes of data into a fresh array of the header's shape."""
    flat: np.ndarray[Any, Any] = np.empty(header.count, dtype=header.dtype)
    view = flat.view(np.uint8).data
    got = 0
    while got < len(view):
        n = f.readinto(view[got : got + CHUNK])  # type: ignore[attr-defined]
        if not n:
            raise ValueError("the array's data is truncated")
        got += n
    shape: tuple[int, ...] = header.shape
    if header.fortran_order:
        return flat.reshape(shape, order="F")
    return flat.reshape(shape)


def load_npy(
    path: Path, shapes: Collection[tuple[int, ...]], wrong_shape: str, max_bytes: int
) -> np.ndarray[Any, Any]:
    """A plain numeric array of one of `shapes`, checked from its header before any data is read.

    The file must be exactly header plus data, so nothing bigger than the largest expected
    shape (at 8 bytes an element), nor more than `max_bytes`, is ever read. `wrong_shape`
    starts the message for an array of another shape. Raises OutputsRefused."""
    try:
        f = open_regular(path)
    except FileNotFoundError as exc:
        raise OutputsRefused(
            f"your entry finished without writing its output ({path.name})"
        ) from exc
    with f:
        try:
            header = read_npy_header(f)
        except ValueError as exc:
            raise OutputsRefused(f"the output is not a plain numeric array ({exc})") from exc
        if header.shape not in shapes:
            raise OutputsRefused(f"{wrong_shape}; got {list(header.shape)}")
        if header.data_bytes > max_bytes:
            raise OutputsRefused(f"the output is larger than {max_bytes // 2**20} MB")
        size = os.fstat(f.fileno()).st_size
        if size != header.offset + header.data_bytes:
            raise OutputsRefused(
                f"the output file is {size} bytes, but its header announces "
                f"{header.offset + header.data_bytes}"
            )
        try:
            return _array_from(f, header)
        except (ValueError, OSError) as exc:
            raise OutputsRefused(f"the output could not be read ({exc})") from exc


def npy_from_bytes(body: bytes, max_count: int) -> np.ndarray[Any, Any]:
    """A plain numeric array from in-memory .npy bytes, of at most `max_count` elements;
    ValueError otherwise. Nothing is allocated before the header has been checked."""
    f = io.BytesIO(body)
    header = read_npy_header(f)
    if header.count > max_count:
        raise ValueError(f"the array has {header.count} elements (at most {max_count})")
    if len(body) != header.offset + header.data_bytes:
        raise ValueError("the array's size does not match its header")
    return _array_from(f, header)
