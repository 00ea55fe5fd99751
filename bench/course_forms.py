"""Pages as a browser reads them: every form with the values it would send (the admin's
forms carry many fields, formsets' management forms and split date-time widgets), the flash
messages a page shows, and a form submitted as a person submits it. One reader for the
whole rehearsal (course, course_people, course_projects)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from .course_web import Person, expect

MESSAGE = re.compile(r'<li class="([a-z ]*)">(.*?)</li>', re.S)


class Form:
    """One <form> of a page as a browser would submit it: its action and its fields."""

    def __init__(self, attrs: dict[str, str]) -> None:
        self.attrs = attrs
        self.fields: list[tuple[str, str]] = []
        self.buttons: list[tuple[str, str]] = []

    @property
    def action(self) -> str:
        return unescape(self.attrs.get("action") or "")

    def data(self, **changes: str) -> list[tuple[str, str]]:
        """The fields as the browser sends them, with `changes` typed in."""
        kept = [(k, v) for k, v in self.fields if k not in changes and k != "csrfmiddlewaretoken"]
        return kept + list(changes.items())


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.select: str | None = None
        self.select_first: str | None = None
        self.select_chosen = False
        self.select_multiple = False
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs_list) -> None:
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        if tag == "form":
            self.form = Form(attrs)
            self.forms.append(self.form)
            return
        if self.form is None:
            return
        name = attrs.get("name")
        if "disabled" in attrs:
            return  # a browser sends no disabled field
        if tag == "input" and name:
            kind = attrs.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind in ("submit", "button", "image", "file"):
                if kind == "submit":
                    self.form.buttons.append((name, attrs.get("value", "")))
                return
            self.form.fields.append((name, attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "button" and name:
            self.form.buttons.append((name, attrs.get("value", "")))
        elif tag == "select" and name:
            self.select, self.select_first, self.select_chosen = name, None, False
            self.select_multiple = "multiple" in attrs
        elif tag == "option" and self.select:
            value = attrs.get("value", "")
            if self.select_first is None:
                self.select_first = value
            if "selected" in attrs and (self.select_multiple or not self.select_chosen):
                self.form.fields.append((self.select, value))
                self.select_chosen = True
        elif tag == "textarea" and name:
            self.textarea, self.text = name, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None
        elif tag == "select" and self.select and self.form is not None:
            if not (self.select_chosen or self.select_multiple) and self.select_first is not None:
                self.form.fields.append((self.select, self.select_first))
            self.select = None
        elif tag == "textarea" and self.textarea and self.form is not None:
            self.form.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.text += data


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_with_action(
    html: str, action: str, what: str, having: dict | None = None, page: str = ""
) -> Form:
    """The page's form posting to `action` (whose fields include `having`, e.g. a hidden
    action=assign among several forms posting to one view); a form without an action posts
    to its `page`."""
    for form in forms_of(html):
        fields = dict(form.fields)
        if (form.action or page) == action and all(
            fields.get(k) == v for k, v in (having or {}).items()
        ):
            return form
    raise AssertionError(f"{what}: no form posting to {action}")


def messages_of(html: str) -> list[tuple[str, str]]:
    """The flash messages a page shows: (level, text)."""
    found = []
    block = html.split('<ul class="messages">', 1)
    if len(block) == 2:
        for level, text in MESSAGE.findall(block[1].split("</ul>", 1)[0]):
            found.append((level.strip(), unescape(re.sub(r"<[^>]+>", "", text)).strip()))
    return found


def submit(
    person: Person,
    form_page: str,
    action: str,
    data: dict | None = None,
    files=None,
    having: dict | None = None,
):
    """Post the form that `form_page` shows for `action` (its hidden fields included), then
    follow the redirect as a browser does; returns the flash messages the person reads."""
    html = person.page(form_page)
    form = form_with_action(html, action, f"{person.username} on {form_page}", having, form_page)
    fields = form.data(**(data or {}))
    kind = "upload" if files else "page"
    response = person.post_form(action, fields, files=files, form_page=form_page, kind=kind)
    return follow(person, response, f"POST {action} as {person.username}")


def follow(person: Person, response, what: str) -> list[tuple[str, str]]:
    expect(response, 302, what)
    location = response.headers["Location"]
    return messages_of(person.page(location))
