"""Errors of the joint space: bad inputs to fusion, and a fusion model that does not fit the encoders."""

from scan.errors import CrossgenreError


class FusionError(CrossgenreError):
    """Fusion inputs or a fusion folder that cannot be used as given (wrong shape, unknown modality, missing file)."""


class FusionMismatchError(FusionError):
    """A fusion model was fitted for other encoders or dims than the ones it is asked to serve."""

    exit_code = 4
