# The pitch ballots move from projects to judging, where both kinds of ballot live. Only the
# migration state moves: the table (projects_ballot) and every row in it stay as they are.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

SCORE_CHOICES = [(1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "5")]


def _in_range(name):
    return models.CheckConstraint(
        condition=models.Q((f"{name}__isnull", True), models.Q((f"{name}__gte", 1), (f"{name}__lte", 5)), _connector="OR"),
        name=f"ballot_{name}_1_to_5",
    )


class Migration(migrations.Migration):

    dependencies = [
        ("judging", "0001_initial"),
        ("projects", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PitchBallot",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("novelty", models.PositiveSmallIntegerField(blank=True, choices=SCORE_CHOICES, null=True)),
                        ("soundness", models.PositiveSmallIntegerField(blank=True, choices=SCORE_CHOICES, null=True)),
                        ("clarity", models.PositiveSmallIntegerField(blank=True, choices=SCORE_CHOICES, null=True)),
                        ("comment", models.TextField(blank=True, max_length=4000)),
                        ("group", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="ballots", to="projects.projectgroup")),
                        ("judge", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="pitch_ballots", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "projects_ballot",
                        "ordering": ["group", "judge"],
                        "constraints": [
                            models.UniqueConstraint(fields=("group", "judge"), name="one_ballot_per_judge"),
                            _in_range("novelty"),
                            _in_range("soundness"),
                            _in_range("clarity"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
