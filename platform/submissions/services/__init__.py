"""Use cases of the submission pipeline: upload, grade, record, cancel, re-grade, reap.

The database is the source of truth for every run; the broker only rings the doorbell.
A lost or duplicated Celery message therefore loses or double-records nothing: a run is
claimed by exactly one delivery (a fresh claim token), and only that claim may record.
"""
