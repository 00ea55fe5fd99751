from .selectors import edition_current


def current_edition(request) -> dict:
    return {"current_edition": edition_current()}
