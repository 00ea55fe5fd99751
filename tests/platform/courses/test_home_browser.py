import pytest
from django.core.management import call_command

from courses.models import Lab
from pages import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_student_logs_in_and_sees_the_labs(page):
    call_command("seed_demo")
    browser_login(page, "demo-student1", "demo-6s191")
    assert page.locator("header").inner_text().count("demo-student1") == 1
    rows = page.locator("tbody tr")
    # Every seeded lab has its row (six since the X-ray lab), and the demo has several.
    assert rows.count() == Lab.objects.count() >= 6
    text = page.locator("table").inner_text()
    assert "January 26, 2027, 11:59 pm EST" in text
    assert "open" in text
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.locator("table").is_visible()
