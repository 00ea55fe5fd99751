"""The lab page says what each kind of entry receives and returns (Keras NHWC, PyTorch NCHW,
code as the spec says), how to save it, and a working line to check an entry first."""

from pathlib import Path

import pytest

from pages import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/work/wt/shots/compat")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_lab_page_shows_each_kind_and_the_check_line(
    page, enrolled, debias, settings, tmp_path, width
):
    settings.GRADER_WHEEL_DIR = tmp_path
    (tmp_path / "labgrader-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "stu")
    page.goto(f"/labs/{debias.pk}/")
    rows = page.locator("#entry-io p.kind-io").all_inner_texts()
    assert any(r.startswith("Keras") and "[N, 64, 64, 3] (NHWC)" in r for r in rows), rows
    assert any(r.startswith("PyTorch") and "[N, 3, 64, 64] (NCHW)" in r for r in rows), rows
    examples = "\n".join(page.locator("pre.kind-example").all_inner_texts())
    assert 'torch.jit.trace(model, torch.zeros(1, 3, 64, 64)).save("model.pt")' in examples
    line = page.locator("#check-commands").inner_text()
    assert '!pip install -q "labgrader @ http' in line and "<course>" not in line
    assert "/grader/labgrader-0.1.0-py3-none-any.whl" in line
    # The served wheel is the one the line names.
    url = line.split("@ ", 1)[1].split('"', 1)[0]
    assert page.request.get(url).body() == b"PK"
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"lab-page-{width}.png"), full_page=True)
