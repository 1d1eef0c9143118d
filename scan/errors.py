"""The crossgenre error family: each one is a problem a user can act on, with a one-line message.

It lives in the first room (scan) and imports nothing of the project, so every room may raise these.
"""


class CrossgenreError(Exception):
    """Base of every error the CLI and server turn into a one-line message."""

    exit_code = 1


class ScanError(CrossgenreError):
    """A file could not be read as a song (corrupt, empty, not audio, unreadable)."""


class DecodeError(ScanError):
    """Audio bytes could not be decoded into samples."""


class ModelMissingError(CrossgenreError):
    """Model weights are not in the model directory."""

    exit_code = 3


class ProfileMismatchError(CrossgenreError):
    """The index was built with another model profile than the one asked for."""

    exit_code = 4


class StoreLockedError(CrossgenreError):
    """The Milvus Lite database file is held by another process."""

    exit_code = 5


class InvalidQueryError(CrossgenreError):
    """A search request that cannot be answered as given (bad k, bad filter, empty query...)."""

    exit_code = 2
