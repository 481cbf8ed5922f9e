"""The one error type a user sees as a single line and exit code 2."""


class UsageError(Exception):
    """Bad input from a user (a name, a key, a value, a path): printed as one line, exit code 2."""

    exit_code = 2
