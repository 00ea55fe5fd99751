"""The one way the platform writes a CSV for staff.

Every cell is defused: a spreadsheet runs a cell that starts with = + - or @ (also after
leading white space) as a formula, and a tab or carriage return can shift a cell into one.
Names, group names and judges' comments are chosen by students and judges, so such a cell
gets a leading single quote and shows as the text it is (OWASP's CSV-injection advice).
"""

import csv
from collections.abc import Iterable

from django.http import HttpResponse

_FORMULA_STARTS = ("=", "+", "-", "@")
_SHIFTING_STARTS = ("\t", "\r")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text[:1] in _SHIFTING_STARTS or text.lstrip()[:1] in _FORMULA_STARTS:
        return "'" + text
    return text


def csv_response(
    filename: str, header: Iterable[object], rows: Iterable[Iterable[object]]
) -> HttpResponse:
    """An attachment `filename` holding `header` and `rows`, every cell defused."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([csv_cell(cell) for cell in header])
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return response
