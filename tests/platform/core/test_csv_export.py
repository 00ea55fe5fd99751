"""The one CSV writer: no cell can reach a spreadsheet as a formula."""

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.csv_export import csv_cell, csv_response

EVIL = '=HYPERLINK("https://evil.example","x")'


@pytest.mark.parametrize(
    "cell",
    [EVIL, "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", "\n@x", "  -2+3", "\tplain", "\rplain"],
)
def test_formula_and_shifting_cells_get_a_leading_quote(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    ("value", "text"), [("Alpha", "Alpha"), (None, ""), (3, "3"), ("a=b", "a=b")]
)
def test_plain_cells_are_unchanged(value, text):
    assert csv_cell(value) == text


@given(st.text())
def test_no_cell_starts_a_formula(text):
    cell = csv_cell(text)
    assert cell[:1] not in ("\t", "\r")
    assert cell.lstrip()[:1] not in ("=", "+", "-", "@")
    assert cell.removeprefix("'") == text or cell == text


def test_the_response_defuses_the_header_and_every_row():
    response = csv_response("x.csv", ["name", "=h"], [[EVIL, 1], [" -1", None]])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["name", "'=h"], ["'" + EVIL, "1"], ["' -1", ""]]
