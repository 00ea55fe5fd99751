"""The in-sandbox harness: loads a student's entry and produces plain outputs.

Run as `python -m harness batch|interactive --task TASK --kind KIND --main RELPATH` with
`PYTHONPATH=sandboxes`. It reads the entry from `$SANDBOX_ENTRY` and the test inputs from
`$SANDBOX_INPUTS`, and writes `.npy` outputs plus `harness.json` (how it went) to
`$SANDBOX_OUT`. It never imports the worker's `grader` package: everything here is as
untrusted as the entry it runs, and the worker checks all of it.
"""
