"""Errors the CLI turns into a one-line message and a non-zero exit status."""


class SmilepayError(Exception):
    """A failure with a message meant for the operator; the CLI prints it and exits 2."""


class ConfigError(SmilepayError):
    """The configuration file is missing, unreadable or invalid; the message names the key path."""


class NotBuiltYet(SmilepayError):
    """A command that exists in the CLI but whose capability has not been built yet."""


class CodeRejected(SmilepayError):
    """A scanned or typed payload was refused; the message says what was wrong with it."""
