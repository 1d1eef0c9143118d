"""The joint space: per-modality heads that place lyrics and cover vectors in the audio space.

fit(arrays, masks) learns the heads from the modality pairs each song has; FusionModel projects one
modality (`project`) or fuses a song's modalities into one joint vector (`joint`), and saves to a folder.
"""

from .data import check_inputs
from .errors import FusionError, FusionMismatchError
from .fit import FitConfig, fit
from .model import DEFAULT_WEIGHTS, FusionModel
from .report import FitReport
from .train import TrainSettings

__all__ = [
    "DEFAULT_WEIGHTS",
    "FitConfig",
    "FitReport",
    "FusionError",
    "FusionMismatchError",
    "FusionModel",
    "TrainSettings",
    "check_inputs",
    "fit",
]
