"""Errors that the CLI reports as one line on stderr with a non-zero exit."""


class WattlakeError(Exception):
    """Base class: a problem the user can act on (never shown with a traceback)."""


class InputError(WattlakeError):
    """Bad input: missing, empty, unreadable or wrongly laid-out file, bad option value."""


class PipelineError(WattlakeError):
    """A pipeline step could not complete; nothing was promoted."""
