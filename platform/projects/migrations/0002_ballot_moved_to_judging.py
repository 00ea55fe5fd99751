# The pitch ballots now belong to judging (judging.PitchBallot, 0002): projects forgets the
# model, and the table with its rows stays where it is, now judging's.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("projects", "0001_initial"),
        ("judging", "0002_pitchballot"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Ballot")],
            database_operations=[],
        ),
    ]
