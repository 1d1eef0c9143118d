"""LAION CLAP through the `laion_clap` package: songs' audio and description text in one joint space.

One checkpoint serves two encoders: ClapAudioEncoder (48 kHz mono audio in 10 s windows) and
ClapTextEncoder (text such as "slow brushed drums"), whose vectors are compared with the audio ones.
Both share one loaded CLAP module per checkpoint (cached in this module).

Files, relative to the model dir (see encoders/models.py; `crossgenre models download` fetches them):
  settings["checkpoint"]   e.g. clap/music_audioset_epoch_15_esc_90.14.pt (HTSAT-base + RoBERTa, 512-d)
  settings["text_model"]   e.g. clap/roberta-base/: config.json, vocab.json, merges.txt, tokenizer.json

laion_clap builds its text tower with `RobertaModel.from_pretrained('roberta-base')` (clap_module/model.py)
and its tokenizer with `RobertaTokenizer.from_pretrained('roberta-base')` (hook.py), both from the hub.
While the module is built, exactly those two names, in those two laion_clap modules, are pointed at the
local folder: the tower is made from its config.json alone (the CLAP checkpoint carries every text-tower
weight, and the strict load below proves it) and the tokenizer from the local files. The names are
restored afterwards. The tokenizer is then checked, because an incomplete folder silently yields a
5-token vocabulary that turns every text into the same vector.
"""

from __future__ import annotations

import pickle
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from scan.errors import ModelMissingError

from .base import AudioEmbedding, AudioEncoder, Encoder, l2_normalize, window_starts
from .device import configure_threads, hub_offline, torch_device
from .models import DOWNLOAD_COMMAND, required_files, require_files

SAMPLE_RATE = 48000  # Hz, what every LAION CLAP audio tower was trained on
WINDOW_SECONDS = 10.0  # s, CLAP's clip_samples (480000) at 48 kHz
KNOWN_WORD = "music"  # must map to ordinary vocabulary ids in a real RoBERTa tokenizer
# windows (10 s each) per forward pass; more costs memory and gains nothing on a CPU
CPU_BATCH, GPU_BATCH = 8, 128
PRECISIONS = ("auto", "fp32", "fp16")
TEXT_BATCH = 64

_lock = threading.Lock()
_modules: dict[tuple[str, str, str, str], "ClapModel"] = {}


class ClapModel:
    """A loaded laion_clap CLAP_Module with what the encoders need to know about it."""

    def __init__(self, module, checkpoint: Path, amodel: str, device: str):
        self.module = module
        self.checkpoint = checkpoint
        self.amodel = amodel
        self.device = device
        self.dim = int(module.model.joint_embed_shape)
        self.name = f"laion-clap:{amodel}:{checkpoint.name}"


def load_clap(settings: dict, model_dir: Path) -> ClapModel:
    """The CLAP module for these settings, loaded once per (checkpoint, audio model, text folder, device).

    settings: checkpoint (path in model_dir), amodel (laion_clap audio config name, e.g. HTSAT-base),
    text_model (RoBERTa folder in model_dir), optional device ("cpu", "cuda").
    Raises ModelMissingError before importing anything heavy when a file is absent.
    """
    model_dir = Path(model_dir)
    require_files(model_dir, required_files({**settings, "family": "clap_audio"}), "LAION CLAP")
    checkpoint = (model_dir / settings["checkpoint"]).resolve()
    text_dir = (model_dir / settings.get("text_model", "clap/roberta-base")).resolve()
    amodel = settings.get("amodel", "HTSAT-base")
    device = settings.get("device") or torch_device()
    key = (str(checkpoint), amodel, str(text_dir), device)
    with _lock:
        if key not in _modules:
            configure_threads()
            module = build_module(amodel, text_dir, device)
            load_checkpoint(module.model, checkpoint, amodel)
            module.eval()
            keep_front_end_fp32(module.model.audio_branch)
            check_tokenizer(module.tokenize, text_dir, module.model.text_branch.config.vocab_size)
            _modules[key] = ClapModel(module, checkpoint, amodel, device)
        return _modules[key]


def keep_front_end_fp32(audio_branch) -> None:
    """Run the audio tower's spectrogram and log-mel extractors in fp32 even inside fp16 autocast.

    Under autocast their STFT (a convolution) would run in fp16, and its rounding reaches the log of
    quiet bins; the front end is a small share of the time, the transformer after it the large one.
    """
    import torch

    for name in ("spectrogram_extractor", "logmel_extractor"):
        module = getattr(audio_branch, name, None)
        if module is None:
            continue

        def forward(x, _inner=module.forward):
            with torch.autocast("cuda", enabled=False):
                return _inner(x.float())

        module.forward = forward


def _import_laion_clap():
    # laion_clap builds hub tokenizers at import (training/data.py): offline they fail fast, online they
    # would retry for minutes; its clap_module package is importable as a top-level name (it edits sys.path)
    hub_offline()
    import laion_clap

    return laion_clap, sys.modules["clap_module.model"], sys.modules["laion_clap.hook"]


@contextmanager
def _pointing(module, name: str, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def build_module(amodel: str, text_dir: Path, device: str):
    """A laion_clap CLAP_Module (random weights) whose RoBERTa config and tokenizer come from text_dir."""
    laion_clap, clap_model_module, hook_module = _import_laion_clap()
    import transformers

    class LocalRobertaModel:
        """Stands in for transformers.RobertaModel inside laion_clap while CLAP is built."""

        @staticmethod
        def from_pretrained(name, *args, **kwargs):
            # weights come from the CLAP checkpoint; only the architecture is read here
            return transformers.RobertaModel(transformers.RobertaConfig.from_pretrained(str(text_dir), local_files_only=True))

    class LocalRobertaTokenizer:
        """Stands in for transformers.RobertaTokenizer inside laion_clap while CLAP is built."""

        @staticmethod
        def from_pretrained(name, *args, **kwargs):
            return transformers.RobertaTokenizer.from_pretrained(str(text_dir), local_files_only=True)

    with (
        _pointing(clap_model_module, "RobertaModel", LocalRobertaModel),
        _pointing(hook_module, "RobertaTokenizer", LocalRobertaTokenizer),
    ):
        return laion_clap.CLAP_Module(enable_fusion=False, amodel=amodel, tmodel="roberta", device=device)


def _numpy_globals() -> list:
    """numpy types that LAION's checkpoints pickle beside the tensors (a numpy scalar in the training state)."""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        from numpy._core.multiarray import scalar
    else:
        from numpy.core.multiarray import scalar
    dtype_classes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [scalar, np.dtype, *dtype_classes]


def load_checkpoint(model, path: Path, amodel: str) -> None:
    """Load a LAION training checkpoint (`{"state_dict": {"module.<name>": tensor}}`) into a CLAP model, strictly.

    Read with torch's weights-only unpickler (tensors, containers and numpy scalars; no code runs).
    Raises ModelMissingError when the file is unreadable or its weights do not fit `amodel`.
    """
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelMissingError(
            f"{path} cannot be read as a CLAP checkpoint ({first}); delete it and run `{DOWNLOAD_COMMAND}`"
        ) from None
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
    expected = model.state_dict()
    # transformers >= 4.31 no longer stores RoBERTa's position ids; older checkpoints still carry them
    for key in ("text_branch.embeddings.position_ids", "text_branch.embeddings.token_type_ids"):
        if key in state and key not in expected:
            del state[key]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or misshaped:
        raise ModelMissingError(
            f"{path.name} does not fit laion_clap's {amodel} with the RoBERTa config given: "
            f"{len(missing)} missing weights {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(misshaped)} of another shape {misshaped[:3]}; check the profile's amodel and text_model"
        )
    model.load_state_dict(state, strict=True)


def check_tokenizer(tokenizer, text_dir: Path, vocab_size: int) -> None:
    """Refuse a tokenizer that does not match the text tower (the offline 5-token trap, see module docs)."""
    ids = tokenizer(KNOWN_WORD, add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids)
    if len(tokenizer) != vocab_size or not ids or all(i in special for i in ids):
        raise ModelMissingError(
            f"the RoBERTa tokenizer in {text_dir} has {len(tokenizer)} tokens and maps {KNOWN_WORD!r} to {ids}, "
            f"but CLAP's text tower expects {vocab_size} tokens: the folder is incomplete; "
            f"run `{DOWNLOAD_COMMAND}` to fetch vocab.json, merges.txt and tokenizer.json"
        )


# -- encoders -------------------------------------------------------------------------------------------


class ClapAudioEncoder(AudioEncoder):
    """CLAP's audio tower on 48 kHz mono float waveforms, in 10 s windows; `dim`-d unit vectors (512 for LAION's).

    A song is cut into windows by `window_starts` (full coverage, or at most `max_windows` spread over it);
    a window shorter than 10 s (a short song or query clip) is repeated to 10 s, as laion_clap does.
    Windows of many songs are batched together (`embed_songs`); the track vector is the re-normalised
    mean of the song's window vectors.
    """

    sample_rate = SAMPLE_RATE
    window_seconds = WINDOW_SECONDS

    def __init__(self, clap: ClapModel, max_windows: int | None = None, batch_size: int | None = None,
                 precision: str = "auto"):
        """max_windows: at most this many windows a song (spread over it); None or 0: full coverage.
        precision: "fp32", "fp16" (autocast, CUDA only; the spectrogram front end stays fp32) or "auto"
        (fp16 on CUDA, fp32 elsewhere)."""
        if max_windows is not None and max_windows < 0:
            raise ValueError(f"max_windows must be a positive number of windows, or 0/None for all, not {max_windows}")
        self.clap = clap
        self.name = clap.name
        self.dim = clap.dim
        self.max_windows = max_windows or None
        self.batch_size = batch_size or (GPU_BATCH if clap.device.startswith("cuda") else CPU_BATCH)
        self.window = int(round(self.window_seconds * self.sample_rate))
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        on_cuda = clap.device.startswith("cuda")
        if precision == "fp16" and not on_cuda:
            raise ValueError(f"fp16 needs a CUDA device; this CLAP runs on {clap.device}")
        self.half = precision == "fp16" or (precision == "auto" and on_cuda)
        self.precision = "fp16" if self.half else "fp32"

    def embed_song(self, waveform: np.ndarray) -> AudioEmbedding:
        return self.embed_songs([waveform])[0]

    def embed_songs(self, waveforms: list[np.ndarray]) -> list[AudioEmbedding]:
        """One AudioEmbedding per waveform, in order, with the windows of all songs batched together.

        Each waveform: 1-D float array of samples at 48 kHz, values in [-1, 1]. Raises ValueError for an
        empty or multi-channel waveform.
        """
        songs = [_mono_float32(w) for w in waveforms]
        plans = [window_starts(len(s), self.window, self.max_windows) for s in songs]
        windows = [s[start : start + self.window] for s, starts in zip(songs, plans) for start in starts]
        vectors = self.embed_windows(windows)
        out, i = [], 0
        for song, starts in zip(songs, plans):
            v = vectors[i : i + len(starts)]
            i += len(starts)
            begin = np.asarray(starts, dtype=np.float64)
            end = np.minimum(begin + self.window, len(song))
            track = l2_normalize(v.mean(axis=0))
            out.append(AudioEmbedding(windows=v, starts=begin / self.sample_rate, ends=end / self.sample_rate, track=track))
        return out

    def embed_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """(len(windows), dim) unit vectors of windows of at most 10 s each.

        Batches hold at most batch_size windows and are as equal as possible (9 windows: 5 + 4, not
        8 + 1): on a CPU a window costs ~1.5x more in a batch of 3 than in a batch of 8. Each batch is
        stacked into one tensor (`stack_windows`) and prepared on the model's device (`prepare_batch`),
        the same steps laion_clap's get_audio_embedding_from_data takes window by window in numpy. On a
        GPU the next batch is stacked while the current one runs.
        """
        import torch

        if not windows:
            return np.zeros((0, self.dim), np.float32)
        n_batches = -(-len(windows) // self.batch_size)
        bounds = np.linspace(0, len(windows), n_batches + 1).round().astype(int)
        pinned = self.clap.device.startswith("cuda")
        parts = []
        with torch.inference_mode():
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                batch = stack_windows(windows[lo:hi], self.window, pinned)
                parts.append(self.forward(batch.to(self.clap.device, non_blocking=True)))
            vectors = torch.cat(parts).float().cpu().numpy()
        return l2_normalize(vectors)

    def forward(self, batch) -> "torch.Tensor":
        """Joint-space vectors (B, dim) of a (B, 480000) float waveform batch already on the model's device."""
        import torch

        model = self.clap.module.model
        waveform = prepare_batch(batch)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.half):
            features = model.encode_audio({"waveform": waveform}, device=waveform.device)["embedding"]
            return model.audio_projection(features)

    def encode(self, inputs: list, modality: str = "audio") -> np.ndarray:
        """One pooled unit vector per waveform (query clips, whole songs), windows batched across inputs."""
        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([e.track for e in self.embed_songs(list(inputs))])


class ClapTextEncoder(Encoder):
    """CLAP's RoBERTa text tower: descriptions to unit vectors in the same space as ClapAudioEncoder's."""

    modalities = ("text",)

    def __init__(self, clap: ClapModel, batch_size: int = TEXT_BATCH):
        self.clap = clap
        self.name = f"{clap.name}:text"
        self.dim = clap.dim
        self.batch_size = batch_size

    def encode(self, inputs: list[str], modality: str = "text") -> np.ndarray:
        """(len(inputs), dim) unit float32 rows; texts longer than 77 tokens are cut (CLAP's training length)."""
        import torch

        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        parts = []
        with torch.inference_mode():
            for i in range(0, len(inputs), self.batch_size):
                parts.append(self.clap.module.get_text_embedding(list(inputs[i : i + self.batch_size])))
        return l2_normalize(np.concatenate(parts))


def stack_windows(windows: list[np.ndarray], length: int, pinned: bool = False) -> "torch.Tensor":
    """(len(windows), length) float32 tensor of windows of at most `length` samples, each filled as laion_clap's
    "repeatpad" does: a shorter window is repeated whole as often as it fits, then zeros follow.

    pinned: in page-locked memory, so the copy to a GPU runs beside the next batch's stacking.
    """
    import torch

    out = torch.empty((len(windows), length), dtype=torch.float32, pin_memory=pinned)
    rows = out.numpy()
    for row, w in zip(rows, windows):
        w = _mono_float32(w)
        if len(w) > length:
            raise ValueError(f"a CLAP window holds at most {length} samples, got {len(w)}")
        repeats = length // len(w)
        row[: repeats * len(w)].reshape(repeats, len(w))[:] = w
        row[repeats * len(w) :] = 0.0
    return out


def prepare_batch(batch: "torch.Tensor") -> "torch.Tensor":
    """The 16-bit round trip laion_clap gives every waveform before its model sees it (clip to [-1, 1],
    scale by 32767, truncate to int16, scale back), on the batch's own device."""
    import torch

    return (batch.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).to(torch.float32) / 32767.0


def _mono_float32(waveform) -> np.ndarray:
    w = np.asarray(waveform, dtype=np.float32)
    if w.ndim != 1:
        raise ValueError(f"CLAP takes mono waveforms (1-D, {SAMPLE_RATE} Hz), got shape {w.shape}")
    if w.size == 0:
        raise ValueError("CLAP cannot embed an empty waveform")
    return w


def build_audio(settings: dict, model_dir: Path) -> ClapAudioEncoder:
    """The profile's `clap_audio` family: settings checkpoint, amodel, text_model, max_windows (None = all),
    batch_size, precision ("auto", "fp32", "fp16"), exact (fp32 whatever precision says)."""
    precision = "fp32" if settings.get("exact") else settings.get("precision", "auto")
    return ClapAudioEncoder(load_clap(settings, model_dir), settings.get("max_windows"), settings.get("batch_size"), precision)


def build_text(settings: dict, model_dir: Path) -> ClapTextEncoder:
    """The profile's `clap_text` family: same settings as clap_audio; shares its loaded module."""
    return ClapTextEncoder(load_clap(settings, model_dir))
