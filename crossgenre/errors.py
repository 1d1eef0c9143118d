"""The error family lives in scan/errors.py (the first room, so every room may import it); this name is
kept so that older imports of `crossgenre.errors` keep working. New code imports `scan.errors`."""

from scan.errors import (  # noqa: F401
    CrossgenreError,
    DecodeError,
    InvalidQueryError,
    ModelMissingError,
    ProfileMismatchError,
    ScanError,
    StoreLockedError,
)
