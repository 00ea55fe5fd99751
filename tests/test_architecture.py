"""The house rules that a reviewer would otherwise have to remember.

- Apps import only apps before them: core → accounts → courses → submissions → leaderboards →
  judging → projects → awards, with demo seeding on top. A function-level import counts the
  same as a top-level one: it is the same dependency, only hidden.
- `grader/` and `sandboxes/` never import Django or the platform's apps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ROOT / "platform"
# Bottom to top. `config` (settings, urls, Celery) and `health` are the frame around the apps:
# they may import any app, and no app may import them except `config` itself (settings).
# `core` is a plain package below them all (errors, permissions, CSV, redirects, the judging
# kernel): every app may import it and it imports no app.
ORDER = [
    "core",
    "accounts",
    "courses",
    "submissions",
    "leaderboards",
    "judging",
    "projects",
    "awards",
    "notifications",  # emails about groups, pitches and deadlines: reads what is below
]
TOP = ["demo"]
INFRA = ["config", "health"]


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def python_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.py")) if "migrations" not in p.parts]


def layering_violations(platform_dir: Path) -> list[str]:
    """'app/file.py imports X' for every import of an app above (or beside, for TOP) it."""
    layers = ORDER + TOP
    found = []
    for position, app in enumerate(layers):
        allowed = set(layers[:position]) | {app}
        forbidden = (set(layers) | set(INFRA) - {"config"}) - allowed
        folder = platform_dir / app
        if not folder.is_dir():
            continue
        for path in python_files(folder):
            for name in sorted(imported_modules(path) & forbidden):
                found.append(f"{path.relative_to(platform_dir)} imports {name}")
    return found


def test_every_app_is_placed_in_the_order():
    apps = {p.parent.name for p in PLATFORM.glob("*/apps.py")}
    assert apps <= set(ORDER + TOP + INFRA), (
        f"place new apps in ORDER: {apps - set(ORDER + TOP + INFRA)}"
    )


def test_apps_import_only_apps_before_them():
    assert layering_violations(PLATFORM) == []


def test_the_layering_check_catches_a_hidden_upward_import(tmp_path):
    # The check itself must be able to fail: an upward import inside a function is found.
    (tmp_path / "courses").mkdir()
    (tmp_path / "courses" / "views.py").write_text(
        "def page():\n    from leaderboards.selectors import rows\n    return rows()\n"
    )
    (tmp_path / "awards").mkdir()
    (tmp_path / "awards" / "views.py").write_text("import courses.models\nfrom judging import x\n")
    assert layering_violations(tmp_path) == ["courses/views.py imports leaderboards"]


@pytest.mark.parametrize("package", ["grader", "sandboxes"])
def test_the_engine_never_imports_django_or_the_platform(package):
    platform_apps = set(ORDER + TOP + INFRA)
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in python_files(ROOT / package)
        for name in imported_modules(path)
        if name == "django" or name == "rest_framework" or name in platform_apps
    ]
    assert bad == []
