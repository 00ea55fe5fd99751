"""Demo data that only the demo seed makes: final-project groups and staff reference rows."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from accounts.models import User
from courses.models import Edition, Lab
from leaderboards.services import baseline_mark
from projects.models import Membership, ProjectGroup, ProjectSettings
from submissions.models import Entry


def seed_final_projects(edition: Edition) -> list[ProjectGroup]:
    """Demo final projects from seed_demo's people; safe to run again."""
    zone = ZoneInfo(edition.time_zone)
    signup = datetime(2027, 1, 29, 23, 59, tzinfo=zone)
    ProjectSettings.objects.update_or_create(
        edition=edition,
        defaults={
            "signup_deadline": signup,
            "slides_deadline": signup + timedelta(days=1, hours=12),
            "review_deadline": signup + timedelta(days=1, hours=12),
            "min_judges_per_group": 2,
            "pitch_minutes": 3,
            "pitches_start_at": datetime(2027, 1, 31, 13, 0, tzinfo=zone),
        },
    )
    people = {u.username: u for u in User.objects.filter(username__startswith="demo-")}
    plans = [
        ("Neural Tunes", "Folk music you can dance to", ["demo-student1", "demo-student2"]),
        ("Fair Faces", "Debiasing face detection at scale", ["demo-student3", "demo-student4"]),
    ]
    groups = []
    for name, title, usernames in plans:
        members = [people[u] for u in usernames if u in people]
        if not members:
            continue
        group, _ = ProjectGroup.objects.update_or_create(
            edition=edition,
            name=name,
            defaults={
                "title": title,
                "created_by": members[0],
                "signed_up_at": signup - timedelta(days=2),
                "slides_url": "https://example.edu/slides/" + name.lower().replace(" ", "-"),
            },
        )
        for user in members:
            Membership.objects.get_or_create(edition=edition, user=user, defaults={"group": group})
        groups.append(group)
    ProjectGroup.objects.filter(edition=edition).update(slot=None)
    for position, group in enumerate(groups, start=1):
        group.slot = position
        group.save(update_fields=["slot"])
    return groups


def baselines_mark_staff_entries(*, lab: Lab, label: str = "") -> int:
    """Mark every entry that staff uploaded to `lab` as a reference row (for the demo seed).
    Each is labelled `label`, else its note, else "Baseline"; already marked ones are kept."""
    entries = Entry.objects.filter(lab=lab, baseline__isnull=True).select_related("user")
    marked = 0
    for entry in entries:
        if entry.user.is_course_staff:
            baseline_mark(entry=entry, label=label or entry.note or "Baseline")
            marked += 1
    return marked
