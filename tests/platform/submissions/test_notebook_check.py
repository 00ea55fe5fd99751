"""A student checks an entry from a notebook: a fresh virtual environment outside the
repository, the grader installed from its wheel (no Django), the lab's public sample set
downloaded from the running site, an entry graded against it."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

from factories import EnrollmentFactory, LabFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
# The wheel's dependencies (pyproject.toml), taken with their own dependencies from this
# interpreter's site-packages (no network here): only these, so Django stays out.
DEPENDENCIES = ("numpy", "scikit-learn", "pillow")

NOTEBOOK = r"""
import json, subprocess, sys, urllib.request, zipfile
from pathlib import Path

url = sys.argv[1]
urllib.request.urlretrieve(url, "sample.zip")          # "Download the public sample set"
zipfile.ZipFile("sample.zip").extractall("data")
Path("entry").mkdir()
Path("entry/submission.py").write_text(
    "import numpy as np\n"
    "def predict(x):\n"
    "    return np.tile(np.arange(10, dtype=np.float32), (len(x), 1))\n"
)
cmd = [sys.executable, "-m", "grader", "grade", "--lab", "lab2-mnist", "entry", "--sample",
       "--hidden-dir", "data"]
human = subprocess.run(cmd, capture_output=True, text=True)
machine = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
print(json.dumps({"human": human.stdout + human.stderr, "code": human.returncode,
                  "json": json.loads(machine.stdout)}))
"""


def _top_levels(names: tuple[str, ...]) -> set[str]:
    """Top-level site-packages entries of these distributions and all they require."""
    seen: set[str] = set()
    tops: set[str] = set()
    todo = list(names)
    while todo:
        try:
            dist = metadata.distribution(todo.pop())
        except metadata.PackageNotFoundError:
            continue  # an optional or platform-specific requirement that is not installed
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen.add(key)
        tops.update(Path(str(f)).parts[0] for f in dist.files or [] if ".." not in str(f))
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return tops


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fresh_venv(path: Path) -> Path:
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = path / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    # Real files, as a notebook's own installs are (hard links where the file system allows,
    # copies otherwise): the process sandbox shows the entry the interpreter's folders, and a
    # symbolic link out of them would point at nothing inside it.
    for top in _top_levels(DEPENDENCIES):
        source = ours / top
        if source.is_dir():
            shutil.copytree(source, deps / top, copy_function=_link_or_copy, symlinks=True)
        elif source.exists():
            _link_or_copy(str(source), str(deps / top))
    (Path(site) / "deps.pth").write_text(str(deps) + "\n")
    return python


def test_install_the_grader_download_a_sample_and_grade_outside_the_repo(
    tmp_path, live_server, settings, hidden_dir, edition
):
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_WHEEL_DIR = tmp_path / "dist"
    lab = LabFactory(edition=edition, spec_id="lab2-mnist")
    wheels = tmp_path / "dist"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_grader_wheel.py"), "--out", str(wheels)],
        check=True,
    )
    python = _fresh_venv(tmp_path / "venv")
    # The lab page's own install line, as printed: the site serves its grader's wheel.
    from django.test import Client

    client = Client()
    client.force_login(student_user(edition))
    page = client.get(f"/labs/{lab.pk}/").content.decode()
    line = html.unescape(re.search(r'<pre id="check-commands">(.*?)\n', page)[1])
    assert line.startswith('!pip install -q "labgrader @ http') and "<" not in line, line
    requirement = re.search(r'"(labgrader @ [^"]+)"', line)[1]
    requirement = requirement.replace("http://testserver", live_server.url)
    # This machine has no package index: the wheel's dependencies are linked in already.
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", requirement]
    subprocess.run(install, check=True)

    home = tmp_path / "notebook"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    probe = (
        "import grader, importlib.util; print(grader.__file__, importlib.util.find_spec('django'))"  # noqa: E501
    )
    where = subprocess.run(
        [str(python), "-c", probe], cwd=home, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert str(tmp_path / "venv") in where and "None" in where  # installed copy; no Django
    assert str(ROOT) not in where

    (home / "notebook.py").write_text(NOTEBOOK)
    url = f"{live_server.url}/samples/lab2-mnist.zip"
    done = subprocess.run(
        [str(python), "notebook.py", url], cwd=home, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, result["human"]
    assert "SCORED" in result["human"] and "PUBLIC SAMPLE" in result["human"]
    assert "not your scores on the hidden test set" in result["human"]
    report = result["json"]
    assert report["status"] == "scored" and 0.0 <= report["metrics"]["accuracy"] <= 1.0
    assert report["receipt"]["dataset_name"] == "samples/lab2-mnist"
    assert "PUBLIC SAMPLE" in report["note"]


def student_user(edition):
    user = UserFactory(username="colab-student")
    EnrollmentFactory(edition=edition, user=user)
    return user
