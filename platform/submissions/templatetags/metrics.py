"""`{% metric_value value ci metric %}`: a metric's value and its 95 % interval as every page
shows them (the entry page, the leaderboard, judging), in the words of core.scoring."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.scoring import metric_text
from grader.specs import MetricSpec

register = template.Library()


@register.simple_tag
def metric_value(value: float | None, ci: list | None = None, metric: MetricSpec | None = None):
    if value is None:
        return mark_safe('<span class="muted">–</span>')  # noqa: S308 - a constant
    integer = bool(metric and metric.integer)
    if not ci:
        return metric_text(value, integer)
    return format_html(
        '{}<span class="ci" title="95 % confidence interval">[{}, {}]</span>',
        metric_text(value, integer),
        metric_text(ci[0], integer),
        metric_text(ci[1], integer),
    )
