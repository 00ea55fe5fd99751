"""Rules every app shares, below all of them in the import order: it imports no app."""
