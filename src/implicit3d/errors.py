"""Exceptions shown to users as one-line messages by the CLI (exit code 2)."""


class UserError(Exception):
    """A problem the user can fix: a missing or malformed file, a bad argument. The message names it."""
