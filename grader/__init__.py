"""The grading engine: lab specs, entry intake, sandboxes, metrics and the two-phase pipeline.

This package never imports Django: the platform calls `grader.pipeline.grade` from a thin
Celery task, and staff and students use the same code through `python -m grader`.
"""

__version__ = "0.1.0"
