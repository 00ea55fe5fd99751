"""The in-sandbox harness: loads a student's entry and produces plain outputs.

Run as `python -m harness batch|interactive|stepwise --task TASK --kind KIND --main RELPATH`
with `PYTHONPATH=sandboxes`. It reads the entry from `$SANDBOX_ENTRY`. `batch` (classification)
reads the test inputs from `$SANDBOX_INPUTS` and writes `.npy` outputs plus `harness.json`
(how it went) to `$SANDBOX_OUT`; `interactive` (a policy) and `stepwise` (a next-character
model: stepwise.py) answer the worker over framed stdin/stdout instead. It never imports the
worker's `grader` package: everything here is as untrusted as the entry it runs, and the
worker checks all of it.
"""
