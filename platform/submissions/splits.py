"""The two test splits a run is scored on. Students see the public one as they go; the
private one is a held-out test, shown once staff reveal it."""

PUBLIC, PRIVATE = "public", "private"
SPLITS = (PUBLIC, PRIVATE)
