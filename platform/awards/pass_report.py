"""The course pass report: every lab completed, a final project done, and attendance."""

from dataclasses import dataclass, field

from courses.models import Completion, Edition, Lab
from projects.models import Membership, PaperReview
from projects.selectors import presented_group_ids
from submissions.models import ACTIVE, Entry, Status

# An entry "submitted" counts unless it was refunded (cancelled, or a platform fault) or is
# still being graded.
SUBMITTED = {s for s in Status.values if s not in ACTIVE | {Status.CANCELLED, Status.ERROR}}


@dataclass
class PassRow:
    username: str
    name: str
    affiliation: str
    labs: dict[str, bool] = field(default_factory=dict)
    project: str = ""  # how the final project was satisfied, or "" if it was not
    attended: bool = False

    @property
    def labs_done(self) -> bool:
        return all(self.labs.values())

    @property
    def passed(self) -> bool:
        return self.labs_done and bool(self.project) and self.attended


def pass_report(edition: Edition) -> tuple[list[Lab], list[PassRow]]:
    labs = list(edition.labs.order_by("position", "spec_id"))
    finished: set[tuple[int, int]] = set()
    for user_id, lab_id, status, completion in Entry.objects.filter(
        lab__edition=edition
    ).values_list("user_id", "lab_id", "status", "lab__completion"):
        if status == Status.SCORED or (completion == Completion.SUBMITTED and status in SUBMITTED):
            finished.add((user_id, lab_id))
    presented_groups = presented_group_ids(edition)
    pitchers = set(
        Membership.objects.filter(edition=edition, group_id__in=presented_groups).values_list(
            "user_id", flat=True
        )
    )
    reviewers = {
        r.user_id for r in PaperReview.objects.filter(edition=edition) if r.satisfies_requirement
    }
    rows = []
    for enrollment in edition.enrollments.select_related("user").order_by("user__username"):
        user = enrollment.user
        rows.append(
            PassRow(
                username=user.username,
                name=user.get_full_name(),
                affiliation=user.get_affiliation_display(),
                labs={lab.spec_id: (user.pk, lab.pk) in finished for lab in labs},
                project=(
                    "pitch presented"
                    if user.pk in pitchers
                    else "paper review passed"
                    if user.pk in reviewers
                    else ""
                ),
                attended=enrollment.attended,
            )
        )
    return labs, rows
