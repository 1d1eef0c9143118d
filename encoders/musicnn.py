"""musicnn (Pons & Serra, 2019) in torch: the offline profile's audio encoder and music tagger.

A port of the MSD_musicnn / MTT_musicnn networks of the `musicnn` PyPI package (0.1.0, ISC licence),
whose TensorFlow 1 checkpoints it loads with encoders.tf_checkpoint (no TensorFlow needed).
Front end as in musicnn/extractor.py: 16 kHz mono -> power mel spectrogram (n_fft 512, hop 256,
96 Slaney mel bands, librosa 0.11 defaults: centred frames, zero padding) -> float16 -> log10(10000 x + 1),
cut into 187-frame (2.992 s) patches. Per patch the network gives a 200-d penultimate vector (the
batch-normalised dense layer before the classifier; our embedding) and 50 sigmoid tag probabilities.
scripts/check_musicnn_port.py compares it with the original TensorFlow code (docs/musicnn-port.md).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scan.errors import ModelMissingError

from .base import AudioEmbedding, AudioEncoder, l2_normalize, window_starts
from .tf_checkpoint import read_checkpoint

SAMPLE_RATE = 16000  # Hz
N_FFT = 512  # samples
HOP = 256  # samples
N_MELS = 96
PATCH_FRAMES = 187  # frames: 3 s as musicnn counts them (time_to_frames(3) + 1)
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
MODELS = {"MSD_musicnn": ("MSD", "MSD_LABELS"), "MTT_musicnn": ("MTT", "MTT_LABELS")}
INSTALL_HINT = "pip install --no-deps musicnn==0.1.0"
CPU_BATCH, GPU_BATCH = 16, 512  # patches per forward pass


# ---------------------------------------------------------------- front end


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) Slaney-style mel filters with Slaney area normalisation, 0 Hz to sr/2.

    The same matrix as librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels) (htk=False, norm='slaney'):
    mel scale linear below 1 kHz (200/3 Hz a mel), logarithmic above; computed in float64, stored float32.
    """
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


class LogMel:
    """16 kHz mono waveform -> (frames, 96) log-compressed mel spectrogram, frames every 256 samples (16 ms).

    Frame t is centred on sample t * 256 (zero padding at both ends); there are 1 + n_samples // 256 frames.
    """

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64, device=device)
        self.mel = torch.from_numpy(mel_filterbank()).to(device)

    def __call__(self, waveform: np.ndarray) -> torch.Tensor:
        return self._log_mel(self._samples(waveform), center=True)

    def frames(self, pieces: np.ndarray) -> torch.Tensor:
        """(n, frames, 96) for (n, L) pieces of a song padded with N_FFT // 2 zeros at both ends (as
        `__call__` pads it): piece row i starting at padded sample f * HOP gives the song's frames f, f+1, ..."""
        return self._log_mel(self._samples(pieces), center=False)

    def _samples(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def _log_mel(self, y: torch.Tensor, center: bool) -> torch.Tensor:
        # librosa windows and transforms in float64, then stores complex64: do the same so the float16
        # rounding below falls on the same side as in musicnn.
        spec = torch.stft(y.double(), N_FFT, HOP, window=self.window, center=center, pad_mode="constant", return_complex=True)
        power = spec.to(torch.complex64).abs().pow(2)  # (..., 257, frames)
        mel = (self.mel @ power).transpose(-1, -2)  # (..., frames, 96)
        # musicnn stores the mel power as float16, then log10(10000 x + 1) runs in float32 (numpy 1.x rules).
        return torch.log10(mel.half().float() * 10000 + 1)


# ---------------------------------------------------------------- network


def _conv_relu_bn_freqmax(conv: nn.Conv2d, bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """max over frequency of bn(relu(conv(x))), computed as bn(relu(max over frequency)): (B,1,T,F) -> (B,C,T).

    In inference, ReLU and batch norm act per channel and are monotone (batch norm decreasing where its
    scale gamma is negative), so they commute with the max once the sign is folded into the conv; this
    skips two passes over the large (B, C, T, F) map, the costliest part of the front end.
    """
    sign = torch.where(bn.weight >= 0, 1.0, -1.0)
    y = F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign)
    return bn(F.relu(y.amax(dim=3) * sign[None, :, None]))


class TimbralBlock(nn.Module):
    """Conv over (7 frames x k mel bands), ReLU, batch norm, max over frequency: (B,1,T,F) -> (B,C,T)."""

    def __init__(self, filters: int, kernel: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x):
        # 'same' in time only: frequency is pooled away
        return _conv_relu_bn_freqmax(self.conv, self.bn, F.pad(x, (0, 0, 3, 3)))


class TemporalBlock(nn.Module):
    """Conv over (k frames x 1 band) with TF 'same' padding, ReLU, batch norm, max over frequency."""

    def __init__(self, filters: int, length: int):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (length, 1))
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)
        self.pad = ((length - 1) // 2, length // 2)  # TF puts the odd extra row after

    def forward(self, x):
        return _conv_relu_bn_freqmax(self.conv, self.bn, F.pad(x, (0, 0, *self.pad)))


class MidendLayer(nn.Module):
    """Conv over (7 frames x all features), ReLU, batch norm: (B,C_in,T) -> (B,C_out,T)."""

    def __init__(self, in_features: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(in_features, filters, 7)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x):
        return self.bn(F.relu(self.conv(F.pad(x, (3, 3)))))


class MusicnnNet(nn.Module):
    """musicnn ('7774timbraltemporal' front end, dense mid-end, global-pool back end), inference only.

    forward((B, 187, 96) log-mel patches) -> (penultimate (B, 200), logits (B, n_classes)).
    """

    def __init__(self, n_classes: int = 50, n_mels: int = N_MELS, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(
            [TimbralBlock(204, (7, int(0.4 * n_mels))), TimbralBlock(204, (7, int(0.7 * n_mels)))]
        )
        self.temporal = nn.ModuleList([TemporalBlock(51, n) for n in (128, 64, 32)])
        front = 2 * 204 + 3 * 51
        self.midend = nn.ModuleList(
            [MidendLayer(front, midend_filters), MidendLayer(midend_filters, midend_filters), MidendLayer(midend_filters, midend_filters)]
        )
        pooled = 2 * (front + 3 * midend_filters)
        self.bn_pool = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, backend_units)
        self.bn_dense = nn.BatchNorm1d(backend_units, eps=BN_EPS)
        self.classifier = nn.Linear(backend_units, n_classes)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.bn_input(patches.unsqueeze(1))
        front = torch.cat([block(x) for block in (*self.timbral, *self.temporal)], dim=1)
        h1 = self.midend[0](front)
        h2 = self.midend[1](h1) + h1  # residual connections, as in musicnn's mid-end
        h3 = self.midend[2](h2) + h2
        features = torch.cat([front, h1, h2, h3], dim=1)  # (B, 753, T)
        # TF concatenates [max, mean] on a last axis and flattens: features interleave max_0, mean_0, max_1...
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return penultimate, self.classifier(penultimate)


# torch module -> TF variable scope, in the order musicnn's models.py creates the layers
LAYER_MAP = [
    ("bn_input", "batch_normalization"),
    ("timbral.0.conv", "conv2d"), ("timbral.0.bn", "batch_normalization_1"),
    ("timbral.1.conv", "conv2d_1"), ("timbral.1.bn", "batch_normalization_2"),
    ("temporal.0.conv", "conv2d_2"), ("temporal.0.bn", "batch_normalization_3"),
    ("temporal.1.conv", "conv2d_3"), ("temporal.1.bn", "batch_normalization_4"),
    ("temporal.2.conv", "conv2d_4"), ("temporal.2.bn", "batch_normalization_5"),
    ("midend.0.conv", "conv2d_5"), ("midend.0.bn", "batch_normalization_6"),
    ("midend.1.conv", "conv2d_6"), ("midend.1.bn", "batch_normalization_7"),
    ("midend.2.conv", "conv2d_7"), ("midend.2.bn", "batch_normalization_8"),
    ("bn_pool", "batch_normalization_9"),
    ("dense", "dense"), ("bn_dense", "batch_normalization_10"),
    ("classifier", "dense_1"),
]  # fmt: skip
BN_MAP = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _is_training_state(name: str) -> bool:
    """Adam moments and power accumulators: saved for training, not part of the model."""
    return "/Adam" in name or name in ("beta1_power", "beta2_power")


def _to_torch(module: nn.Module, param: str, value: np.ndarray) -> np.ndarray:
    """A TF tensor in the layout torch's `module.param` expects."""
    if param == "weight" and isinstance(module, nn.Conv2d):
        return value.transpose(3, 2, 0, 1)  # TF (kh, kw, in, out) -> torch (out, in, kh, kw)
    if param == "weight" and isinstance(module, nn.Conv1d):
        return value[:, :, 0, :].transpose(2, 1, 0)  # TF (7, features, 1, out) -> torch (out, features, 7)
    if param == "weight" and isinstance(module, nn.Linear):
        return value.T  # TF (in, out) -> torch (out, in)
    return value


def load_tf_weights(net: MusicnnNet, tensors: dict[str, np.ndarray]) -> None:
    """Copy a musicnn TF checkpoint's tensors into `net`; raises ValueError on a missing, unused or misshapen one."""
    state, used = {}, set()
    for module_name, scope in LAYER_MAP:
        module = net.get_submodule(module_name)
        names = BN_MAP if isinstance(module, nn.modules.batchnorm._BatchNorm) else {"weight": "kernel", "bias": "bias"}
        for param, tf_param in names.items():
            tf_name = f"{scope}/{tf_param}"
            if tf_name not in tensors:
                raise ValueError(f"checkpoint has no tensor {tf_name} (for {module_name}.{param})")
            value = _to_torch(module, param, tensors[tf_name])
            target = getattr(module, param)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"{tf_name}: shape {value.shape} does not fit {module_name}.{param} {tuple(target.shape)}")
            state[f"{module_name}.{param}"] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            used.add(tf_name)
    unused = sorted(n for n in tensors if n not in used and not _is_training_state(n))
    if unused:
        raise ValueError(f"checkpoint tensors not mapped to the model: {', '.join(unused)}")
    missing = [k for k in net.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"model parameters with no checkpoint tensor: {', '.join(missing)}")
    net.load_state_dict(state, strict=False)
    net.eval()


class OnnxMusicnn:
    """MusicnnNet exported to ONNX (in memory) and run by ONNX Runtime on the CPU: the same graph and
    weights, the same outputs within float rounding, at about 2-3x less CPU time than torch
    (docs/benchmarks.md). Called like the net: (B, 187, 96) patches -> (penultimate, logits)."""

    def __init__(self, net: MusicnnNet, threads: int):
        import io
        import warnings

        import onnxruntime as ort

        graph = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(net.eval(), (torch.zeros(4, PATCH_FRAMES, N_MELS),), graph, input_names=["patches"],
                              output_names=["penultimate", "logits"], dynamic_axes={"patches": {0: "n"}},
                              dynamo=False, opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # idle pool threads would spin, burning CPU the decode and lyrics work beside them needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pen, logits = self.session.run(None, {"patches": patches.float().numpy()})
        return torch.from_numpy(pen), torch.from_numpy(logits)

    def eval(self):
        return self


# ---------------------------------------------------------------- encoder


@dataclass
class PatchOutputs:
    """Raw per-patch outputs: start times (s), penultimate (n, 200) as the network gives it, tag probabilities (n, 50)."""

    starts: np.ndarray
    penultimate: np.ndarray
    tags: np.ndarray


class MusicnnEncoder(AudioEncoder):
    """musicnn as an AudioEncoder: 200-d unit vectors per 2.992 s window, plus 50 tag probabilities.

    `embed_song` covers the song with non-overlapping 187-frame patches (see base.window_starts; at most
    `max_windows` of them, spread evenly); `tags` is the mean of the patches' tag probabilities. Clips
    shorter than a patch are repeat-padded, as musicnn's training did ("pad_short": "repeat-pad").
    `device`: where the log-mel front end and the network run ("cuda" when a GPU is visible, by default).
    `also`: a second tagger (MTT_musicnn) run on at most `also_windows` of the same patches, spread evenly;
    its tag probabilities follow the first tagger's in `tags`, its names (prefixed "mtt:") in `tag_names`.
    """

    sample_rate = SAMPLE_RATE
    window_seconds = PATCH_FRAMES * HOP / SAMPLE_RATE  # 2.992 s
    dim = 200

    def __init__(self, net: MusicnnNet, tag_names: list[str], name: str, max_windows: int | None = None, batch_size: int = 16,
                 device: str = "cpu", mel_per_window: bool = False, also: tuple | None = None,
                 also_windows: int | None = None):
        """net: a MusicnnNet, or any callable with its signature (OnnxMusicnn). mel_per_window: compute the
        log-mel only over the windows kept (the same frames, at a fraction of the cost when windows are
        sampled) instead of over the whole song. also: (net, tag names) of a second tagger."""
        self.device = device
        self.net = self._place(net)
        self.tag_names = list(tag_names)
        self.also_net = self._place(also[0]) if also else None
        if also:
            self.tag_names += [f"mtt:{n}" for n in also[1]]
        self.also_windows = also_windows
        self.name = name
        self.max_windows = max_windows
        self.batch_size = batch_size
        self.logmel = LogMel(device)
        self.mel_per_window = mel_per_window

    def _place(self, net):
        return net.eval().to(self.device) if isinstance(net, nn.Module) else net

    def patches(self, waveform: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        """Start times (s) and the (n, 187, 96) log-mel patches that cover `waveform` (16 kHz mono)."""
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1 or waveform.size == 0:
            raise ValueError(f"expected a non-empty mono waveform, got shape {waveform.shape}")
        n_frames = 1 + len(waveform) // HOP
        if self.mel_per_window and n_frames >= PATCH_FRAMES:
            return self._patches_per_window(waveform, n_frames)
        spec = self.logmel(waveform)
        if spec.shape[0] < PATCH_FRAMES:
            spec = spec.repeat(-(-PATCH_FRAMES // spec.shape[0]), 1)[:PATCH_FRAMES]
        window = PATCH_FRAMES * HOP
        # A window starting at sample s starts at frame s / HOP (frames are centred every HOP samples).
        frames = [min(round(s / HOP), spec.shape[0] - PATCH_FRAMES) for s in window_starts(len(waveform), window, self.max_windows)]
        patches = torch.stack([spec[f : f + PATCH_FRAMES] for f in frames])
        return np.asarray(frames, dtype=np.float64) * HOP / SAMPLE_RATE, patches

    def _patches_per_window(self, waveform: np.ndarray, n_frames: int) -> tuple[np.ndarray, torch.Tensor]:
        """As `patches`, with the log-mel computed for the kept windows only, in one batch: frame t is
        centred on sample t * HOP and reads N_FFT // 2 samples either side, so a window's frames need
        (PATCH_FRAMES + 1) * HOP samples of the song padded as `LogMel` pads it."""
        window = PATCH_FRAMES * HOP
        frames = [min(round(s / HOP), n_frames - PATCH_FRAMES) for s in window_starts(len(waveform), window, self.max_windows)]
        padded = np.pad(np.asarray(waveform, dtype=np.float32), N_FFT // 2)
        span = (PATCH_FRAMES - 1) * HOP + N_FFT
        pieces = np.stack([padded[f * HOP : f * HOP + span] for f in frames])
        return np.asarray(frames, dtype=np.float64) * HOP / SAMPLE_RATE, self.logmel.frames(pieces)

    def run_patches(self, patches: torch.Tensor, net=None) -> tuple[np.ndarray, np.ndarray]:
        """(n, 187, 96) log-mel patches -> (penultimate (n, 200), tag probabilities (n, 50)), batched."""
        pens, probs = [], []
        with torch.inference_mode():
            for i in range(0, len(patches), self.batch_size):
                pen, logits = (net or self.net)(patches[i : i + self.batch_size])
                pens.append(pen)
                probs.append(torch.sigmoid(logits))
            return torch.cat(pens).cpu().numpy(), torch.cat(probs).cpu().numpy()

    def analyse(self, waveform: np.ndarray) -> PatchOutputs:
        """Per-patch outputs for a 16 kHz mono waveform, before any normalising or pooling."""
        starts, patches = self.patches(waveform)
        penultimate, tags = self.run_patches(patches)
        return PatchOutputs(starts, penultimate, tags)

    def embed_song(self, waveform: np.ndarray) -> AudioEmbedding:
        starts, patches = self.patches(waveform)
        penultimate, tags = self.run_patches(patches)
        song_tags = tags.mean(axis=0)
        if self.also_net is not None:  # song-level tags settle on fewer windows than the embedding needs
            n = min(len(patches), self.also_windows or len(patches))
            keep = np.linspace(0, len(patches) - 1, n).round().astype(int)
            song_tags = np.concatenate([song_tags, self.run_patches(patches[keep], self.also_net)[1].mean(axis=0)])
        windows = l2_normalize(penultimate)
        return AudioEmbedding(
            windows=windows,
            starts=starts,
            ends=starts + self.window_seconds,
            track=l2_normalize(windows.mean(axis=0)),
            tags=song_tags.astype(np.float32),
        )


def package_dir() -> Path:
    """The installed `musicnn` package's folder (its checkpoints live in it)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the offline profile needs the musicnn weights package: run `{INSTALL_HINT}`")
    return Path(list(spec.submodule_search_locations)[0])


def checkpoint_dir(model: str = "MSD_musicnn") -> Path:
    """The folder of `model`'s TF checkpoint inside the installed musicnn package."""
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}; known: {', '.join(MODELS)}")
    folder = package_dir() / model
    if not (folder / ".index").exists():
        raise ModelMissingError(f"{folder / '.index'} is missing; reinstall the weights: `{INSTALL_HINT}`")
    return folder


def tag_names(model: str = "MSD_musicnn") -> list[str]:
    """`model`'s tags in output order, from musicnn's configuration.py (plain constants, no TensorFlow)."""
    checkpoint_dir(model)
    return list(getattr(importlib.import_module("musicnn.configuration"), MODELS[model][1]))


def load_model(model: str = "MSD_musicnn") -> tuple[MusicnnNet, list[str]]:
    """The network with its checkpoint loaded, and its tag names, from the installed musicnn package."""
    names = tag_names(model)
    net = MusicnnNet(n_classes=len(names))
    load_tf_weights(net, read_checkpoint(checkpoint_dir(model)))
    return net, names


def build(settings: dict, model_dir: Path) -> MusicnnEncoder:
    """Profile factory: settings {"model": "MSD_musicnn"|"MTT_musicnn", "max_windows": int|None, "batch_size": int,
    "device": "cpu"|"cuda" (default: CUDA when present), "exact": bool, "also": "MTT_musicnn" (a second
    tagger on the same patches), "also_windows": int|None (how many patches it sees)}.

    On a CPU the network runs in ONNX Runtime and the log-mel is computed over the kept windows only,
    unless `exact` asks for the reference path (torch, whole-song log-mel); the vectors agree either way.
    The weights come from the `musicnn` PyPI package, not model_dir.
    """
    from .device import configure_threads, torch_device

    model = settings.get("model", "MSD_musicnn")
    device = settings.get("device") or torch_device()
    exact = bool(settings.get("exact"))
    fast = not exact and device == "cpu"
    net, tag_names = load_model(model)
    if fast:
        net = OnnxMusicnn(net, configure_threads())
    also, name = None, f"musicnn-{MODELS[model][0]}-v1"
    if settings.get("also"):
        also_net, also_names = load_model(settings["also"])
        also = (OnnxMusicnn(also_net, configure_threads()) if fast else also_net, also_names)
        name = f"musicnn-{MODELS[model][0]}+{MODELS[settings['also']][0]}-v1"
    return MusicnnEncoder(
        net,
        tag_names,
        name=name,
        also=also,
        also_windows=settings.get("also_windows"),
        max_windows=settings.get("max_windows"),
        batch_size=int(settings.get("batch_size") or (GPU_BATCH if device.startswith("cuda") else CPU_BATCH)),
        device=device,
        mel_per_window=not exact,
    )
