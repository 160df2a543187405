"""The one exception type users see: its message is a single line naming the file and the problem."""


class DarkedgeError(Exception):
    """A problem with the user's input or files; the CLI prints it as one line and exits non-zero."""
