"""What judges read from an entry's stored zip: write-up, figures, songs. Members are read
in memory with zipfile (the upload was validated on intake: no ../, no links), never
extracted, and every read is capped so a large member cannot exhaust the web server."""

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import markdown
import nh3

from submissions.models import Entry

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF"
MAX_WRITEUP_BYTES = 512 * 1024
MAX_SONGS_BYTES = 512 * 1024
MAX_FIGURE_BYTES = 5 * 2**20
MAX_PDF_BYTES = 25 * 2**20
MAX_FIGURES = 24
MAX_SONGS = 12
MAX_SONG_CHARS = 8000


@dataclass
class Materials:
    writeup_html: str = ""
    has_pdf: bool = False
    figures: list[str] = field(default_factory=list)  # member names; the URL uses the index
    songs: list[str] = field(default_factory=list)


def _members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in zf.infolist() if not info.is_dir()]


def _shallowest(infos: list[zipfile.ZipInfo], name: str) -> zipfile.ZipInfo | None:
    found = [i for i in infos if PurePosixPath(i.filename).name.lower() == name]
    return min(found, key=lambda i: (i.filename.count("/"), i.filename), default=None)


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, cap: int) -> bytes | None:
    if info is None or info.file_size > cap:
        return None
    with zf.open(info) as member:
        data = member.read(cap + 1)  # the header's size could lie
    return data if len(data) <= cap else None


def figure_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    figures = [
        i
        for i in _members(zf)
        if "figures" in PurePosixPath(i.filename).parts[:-1] and i.filename.lower().endswith(".png")
    ]
    return sorted(figures, key=lambda i: i.filename)[:MAX_FIGURES]


def open_zip(entry: Entry) -> zipfile.ZipFile | None:
    if not entry.original_name.lower().endswith(".zip"):
        return None
    try:
        return zipfile.ZipFile(entry.file.open("rb"))
    except (OSError, zipfile.BadZipFile):
        return None


def split_songs(text: str) -> list[str]:
    """Tunes of an ABC file: each starts at an `X:` line."""
    songs: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("X:") or not songs:
            songs.append([])
        songs[-1].append(line)
    tunes = ["\n".join(lines).strip() for lines in songs]
    return [t[:MAX_SONG_CHARS] for t in tunes if t.startswith("X:")][:MAX_SONGS]


def render_writeup(text: str, figure_urls: dict[str, str]) -> str:
    """Markdown to HTML, sanitised by nh3. Images may only show the entry's own figures
    (through the access-checked view), so a write-up cannot load a tracking pixel."""
    html = markdown.markdown(text, extensions=["fenced_code", "tables"])

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            return figure_urls.get(value.removeprefix("./"))
        return value

    return nh3.clean(html, attribute_filter=keep)


def entry_materials(entry: Entry, figure_url: Callable[[int], str]) -> Materials:
    materials = Materials()
    zf = open_zip(entry)
    if zf is None:
        return materials
    with zf:
        infos = _members(zf)
        figures = figure_members(zf)
        materials.figures = [i.filename for i in figures]
        urls = {}
        for index, info in enumerate(figures):
            urls[info.filename] = figure_url(index)
            # A write-up next to figures/ links them as figures/x.png.
            parts = PurePosixPath(info.filename).parts
            urls["/".join(parts[parts.index("figures") :])] = figure_url(index)
        writeup = _read(zf, _shallowest(infos, "writeup.md"), MAX_WRITEUP_BYTES)
        if writeup is not None:
            materials.writeup_html = render_writeup(writeup.decode("utf-8", "replace"), urls)
        pdf = _shallowest(infos, "writeup.pdf")
        if pdf is not None:
            with zf.open(pdf) as member:
                materials.has_pdf = member.read(len(PDF_MAGIC)) == PDF_MAGIC
        songs = _read(zf, _shallowest(infos, "songs.abc"), MAX_SONGS_BYTES)
        if songs is not None:
            materials.songs = split_songs(songs.decode("utf-8", "replace"))
    return materials


def entry_figure(entry: Entry, index: int) -> bytes | None:
    """The entry's index-th figure, only if it is a real PNG within the size cap."""
    zf = open_zip(entry)
    if zf is None:
        return None
    with zf:
        figures = figure_members(zf)
        if not 0 <= index < len(figures):
            return None
        data = _read(zf, figures[index], MAX_FIGURE_BYTES)
    return data if data is not None and data.startswith(PNG_MAGIC) else None


def entry_writeup_pdf(entry: Entry) -> bytes | None:
    zf = open_zip(entry)
    if zf is None:
        return None
    with zf:
        data = _read(zf, _shallowest(_members(zf), "writeup.pdf"), MAX_PDF_BYTES)
    return data if data is not None and data.startswith(PDF_MAGIC) else None
