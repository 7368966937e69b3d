"""Errors that reach the user as one line and exit code 2."""


class EdgezooError(Exception):
    """A problem with the user's input (file, flag, model name): printed as one line, exit code 2."""
