"""FusionModel: the fitted heads that place lyrics and cover vectors in the audio space, and the joint vector.

The joint space IS the audio space (joint dim = audio dim, the audio "head" is the identity), so anything
that already lives in the audio space (CLAP description text, the tag bridge) stays aligned with it.
On disk a model is a readable folder, like a sentence-transformers module:

    fusion.json        format version, version hash, joint dim, per modality {dim, encoder, method,
                       weight, hidden}, temperature, and the fit report
    model.safetensors  the heads' tensors, "<modality>.<parameter>"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .data import ANCHOR, check_inputs
from .errors import FusionError, FusionMismatchError
from .heads import ProjectionHead
from .report import FitReport

FORMAT_VERSION = 1
CONFIG_NAME = "fusion.json"
WEIGHTS_NAME = "model.safetensors"
# how much each modality pulls the joint vector; audio, the anchor, pulls most
DEFAULT_WEIGHTS = {"audio": 1.0, "lyrics": 0.5, "cover": 0.5}


class FusionModel:
    """Maps each modality into the joint (= audio) space and combines a song's modalities into one vector.

    dims: modality -> input dim (must include "audio"; joint dim = dims["audio"]).
    heads: modality -> ProjectionHead for every mapped modality (never "audio").
    methods: modality -> "identity" (audio), "contrastive", "ridge" or "none" (no map: too few songs had it).
    weights: modality -> weight in the joint mean; a modality without a head, or weight 0, is left out.
    encoders: modality -> name of the encoder whose vectors the model expects (None: not checked).
    temperature: softmax temperature the heads were trained at (None when not trained contrastively).

    Verbs: project(modality, (n, dim)) -> (n, joint_dim); joint(arrays, masks) -> (n, joint_dim); both unit rows.
    """

    def __init__(
        self,
        dims: dict[str, int],
        heads: dict[str, ProjectionHead],
        methods: dict[str, str],
        weights: dict[str, float],
        encoders: dict[str, str | None] | None = None,
        temperature: float | None = None,
        report: FitReport | None = None,
    ):
        if ANCHOR not in dims:
            raise FusionError(f"a fusion model needs the {ANCHOR!r} dim; got {', '.join(dims)}")
        self.dims = dict(dims)
        self.joint_dim = dims[ANCHOR]
        self.heads = dict(heads)
        self.methods = {m: ("identity" if m == ANCHOR else methods.get(m, "none" if m not in heads else "ridge")) for m in dims}
        # a modality without a map cannot pull the joint vector: its weight is 0, and says so in fusion.json
        self.weights = {m: float(weights.get(m, DEFAULT_WEIGHTS.get(m, 0.5))) if m in (ANCHOR, *heads) else 0.0 for m in dims}
        self.encoders = {m: (encoders or {}).get(m) for m in dims}
        self.temperature = temperature
        self.report = report
        for m, head in self.heads.items():
            if (head.in_dim, head.out_dim) != (dims[m], self.joint_dim):
                raise FusionError(f"{m} head maps {head.in_dim} -> {head.out_dim} dims; expected {dims[m]} -> {self.joint_dim}")
            head.eval()
        self._version: str | None = None

    @classmethod
    def identity(cls, dims: dict[str, int], encoders: dict[str, str | None] | None = None) -> "FusionModel":
        """The model of an index with no songs to fit on: joint = audio, no map for any other modality."""
        return cls(dims, {}, {m: ("identity" if m == ANCHOR else "none") for m in dims}, {ANCHOR: 1.0}, encoders)

    @property
    def mapped(self) -> tuple[str, ...]:
        """Modalities that `project` accepts: audio and every modality with a head."""
        return (ANCHOR, *self.heads)

    def project(self, modality: str, vectors: np.ndarray) -> np.ndarray:
        """Place vectors (n, dims[modality]) of one modality in the joint space: (n, joint_dim) unit float32 rows."""
        if modality not in self.dims:
            raise FusionError(f"unknown modality {modality!r}; this fusion model knows {', '.join(self.dims)}")
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dims[modality]:
            raise FusionMismatchError(f"{modality} vectors have shape {x.shape}; this fusion model expects (n, {self.dims[modality]})")
        if modality == ANCHOR:
            return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        if modality not in self.heads:
            raise FusionError(f"no {modality} map: too few songs had {modality} when fitting; mapped: {', '.join(self.mapped)}")
        return self.heads[modality].project(x)

    def joint(self, arrays: dict[str, np.ndarray], masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """One joint vector per song: normalise(sum over present modalities of weight * projection).

        arrays/masks: as for `fit` (modality -> (n, dim); modality -> (n,) bool, absent = all present).
        Songs missing lyrics or cover get the weighted mean of what they have (at least their audio).
        Returns (n, joint_dim) unit float32 rows.
        """
        data = check_inputs(arrays, masks)
        unknown = set(data.arrays) - set(self.dims)
        if unknown:
            raise FusionError(f"unknown modality {', '.join(sorted(unknown))}; this fusion model knows {', '.join(self.dims)}")
        total = np.zeros((data.n, self.joint_dim), np.float32)
        for m, a in data.arrays.items():
            w = self.weights[m]
            if w == 0 or m not in self.mapped:
                continue
            rows = np.flatnonzero(data.masks[m])
            if len(rows):
                total[rows] += w * self.project(m, a[rows])
        return (total / np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    # -- identity of the weights -------------------------------------------------------------------

    def config(self) -> dict:
        """What the model is, apart from its tensors (the part of fusion.json that the version covers)."""
        return {
            "format_version": FORMAT_VERSION,
            "joint_dim": self.joint_dim,
            "modalities": {
                m: {
                    "dim": self.dims[m],
                    "encoder": self.encoders[m],
                    "method": self.methods[m],
                    "weight": self.weights[m],
                    "hidden": self.heads[m].hidden if m in self.heads else None,
                }
                for m in self.dims
            },
            "temperature": None if self.temperature is None else round(float(self.temperature), 6),
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """All head tensors as "<modality>.<parameter>" -> contiguous float32 CPU tensor."""
        return {f"{m}.{k}": v.detach().contiguous() for m, head in self.heads.items() for k, v in head.state_dict().items()}

    @property
    def version(self) -> str:
        """12-hex content hash of config and tensors; stored beside every joint vector made with this model."""
        if self._version is None:
            self._version = _content_hash(self.config(), self.state_dict())
        return self._version

    def refresh_version(self) -> str:
        """Recompute the version after the heads' weights were changed in place."""
        self._version = None
        return self.version

    # -- disk ---------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write fusion.json and model.safetensors as folder `path`, replacing what was there. Returns the folder.

        Atomic for readers: the files are written into `<path>.new`, then the old folder is renamed aside
        and the new one into place; a process killed between the two renames leaves `<path>.old`, which
        `settle` (and `load`) put back. A killed save never leaves a half-written model at `path`."""
        path = Path(path)
        settle(path)
        fresh, old = _beside(path, "new"), _beside(path, "old")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        save_file(self.state_dict(), str(fresh / WEIGHTS_NAME), metadata={"version": self.version})
        doc = {"version": self.version, **self.config(), "fit_report": self.report.to_dict() if self.report else None}
        (fresh / CONFIG_NAME).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        for name in (WEIGHTS_NAME, CONFIG_NAME):
            with open(fresh / name, "rb") as f:
                os.fsync(f.fileno())
        if path.exists():
            os.rename(path, old)
        os.rename(fresh, path)
        shutil.rmtree(old, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | Path, encoders: dict[str, str] | None = None, dims: dict[str, int] | None = None) -> "FusionModel":
        """Read a folder written by `save`.

        encoders / dims: what the caller's index uses (modality -> encoder name / dim). Any that differ from
        what the model was fitted for raise FusionMismatchError before a single vector is projected.
        """
        path = Path(path)
        settle(path)
        if not (path / CONFIG_NAME).is_file():
            raise FusionError(f"no fusion model in {path}: {CONFIG_NAME} is missing")
        doc = json.loads((path / CONFIG_NAME).read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise FusionError(f"{path / CONFIG_NAME} has format version {doc.get('format_version')}; this crossgenre reads {FORMAT_VERSION}")
        mods = doc["modalities"]
        _check_expected(path, mods, encoders or {}, dims or {})
        state = load_file(str(path / WEIGHTS_NAME)) if (path / WEIGHTS_NAME).is_file() else {}
        heads = {}
        for m, spec in mods.items():
            if spec["hidden"] is None:
                continue
            head = ProjectionHead(spec["dim"], doc["joint_dim"], spec["hidden"])
            own = {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == m}
            try:
                head.load_state_dict(own)
            except RuntimeError as e:
                raise FusionError(f"{path / WEIGHTS_NAME} does not hold a valid {m} head: {e}") from None
            heads[m] = head
        model = cls(
            {m: s["dim"] for m, s in mods.items()},
            heads,
            {m: s["method"] for m, s in mods.items()},
            {m: s["weight"] for m, s in mods.items()},
            {m: s["encoder"] for m, s in mods.items()},
            doc.get("temperature"),
            FitReport.from_dict(doc["fit_report"]) if doc.get("fit_report") else None,
        )
        if model.version != doc["version"]:
            raise FusionError(f"{path} is inconsistent: {CONFIG_NAME} says version {doc['version']} but its weights hash to {model.version}")
        return model

    def __repr__(self) -> str:
        heads = ", ".join(f"{m}:{self.methods[m]}" for m in self.dims)
        return f"FusionModel(version={self.version}, joint_dim={self.joint_dim}, {heads})"


def _check_expected(path: Path, mods: dict, encoders: dict[str, str], dims: dict[str, int]) -> None:
    for m, name in encoders.items():
        if m not in mods:
            raise FusionMismatchError(f"fusion model in {path} has no {m} modality; it maps {', '.join(mods)}")
        fitted = mods[m]["encoder"]
        if fitted is not None and fitted != name:
            raise FusionMismatchError(f"fusion model in {path} was fitted on {m} vectors from {fitted!r}, not {name!r}; refit the fusion model")
    for m, dim in dims.items():
        if m not in mods:
            raise FusionMismatchError(f"fusion model in {path} has no {m} modality; it maps {', '.join(mods)}")
        if mods[m]["dim"] != dim:
            raise FusionMismatchError(f"fusion model in {path} expects {mods[m]['dim']}-dim {m} vectors, not {dim}; refit the fusion model")


def _content_hash(config: dict, state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for k in sorted(state):
        t = state[k].to(torch.float32).contiguous()
        h.update(f"{k}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:12]


def settle(path: str | Path) -> None:
    """Finish a save that was killed between its two renames: the previous model goes back into place."""
    path, old = Path(path), _beside(Path(path), "old")
    if not path.exists() and (old / CONFIG_NAME).is_file():
        os.rename(old, path)


def _beside(path: Path, what: str) -> Path:
    return path.with_name(f"{path.name}.{what}")
