"""OpenCLIP: album covers (image tower) and text -> cover queries (text tower), in one joint space.

The model is an OpenCLIP model folder in the model dir, as published on the Hugging Face Hub:
  settings["folder"]/open_clip_config.json        architecture (model_cfg) and preprocessing (preprocess_cfg)
  settings["folder"]/open_clip_model.safetensors  weights
loaded with open_clip's own `local-dir:` loader (strict weight loading) and open_clip's BPE tokenizer,
which ships inside the package: nothing is fetched. The full profile uses ViT-B-32 trained on LAION-2B
(`laion2b_s34b_b79k`, 512-d), fetched by `crossgenre models download`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan.errors import ModelMissingError

from .base import Encoder, l2_normalize
from .device import configure_threads, hub_offline, torch_device
from .models import DOWNLOAD_COMMAND, require_files, required_files

# images (224x224 for ViT-B-32) per forward pass; texts per forward pass
CPU_BATCH, GPU_BATCH = 16, 128
TEXT_BATCH = 64


class OpenClipEncoder(Encoder):
    """An OpenCLIP model: PIL images and texts to `dim`-d unit float32 vectors in the same space.

    Args:
        folder: OpenCLIP model folder (open_clip_config.json + weights).
        name: stable id stored beside the vectors, e.g. "openclip:ViT-B-32:laion2b_s34b_b79k".
        device: torch device; None picks CUDA when available.
        batch_size: images per forward pass; None picks one for the device.
    """

    modalities = ("image", "text")

    def __init__(self, folder: Path, name: str, device: str | None = None, batch_size: int | None = None):
        hub_offline()
        configure_threads()
        import open_clip

        self.folder = Path(folder)
        self.name = name
        self.device = device or torch_device()
        self.batch_size = batch_size or (GPU_BATCH if self.device.startswith("cuda") else CPU_BATCH)
        source = f"local-dir:{self.folder}"
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(source, device=self.device)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelMissingError(
                f"{self.folder} does not hold a loadable OpenCLIP model ({first[:300]}); "
                f"delete it and run `{DOWNLOAD_COMMAND}`"
            ) from None
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(source)
        self.dim = int(self.model.visual.output_dim)
        self._image_steps, self._normalize = _split_transform(self.preprocess)
        self._resize_crop = _resize_crop(self._image_steps)
        # on a GPU, resize and crop run there (torchvision's antialiased bicubic, PIL's filter within
        # a grey level); on a CPU, PIL does them as open_clip's preprocess does
        self.resize_on_device = self.device.startswith("cuda") and self._resize_crop is not None

    def pixels_on_device(self, images: list) -> "torch.Tensor":
        """(n, 3, H, W) model input made on the encoder's device: each image's bytes go there as uint8,
        are resized (shorter side, bicubic, antialiased) and centre-cropped there, then the batch is
        normalised at once. Same steps as `pixels`; equal within rounding (tests compare the vectors)."""
        import torch
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        size, crop = self._resize_crop
        out = []
        for im in images:
            hwc = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.uint8))
            chw = hwc.to(self.device, non_blocking=True).permute(2, 0, 1)
            chw = TF.resize(chw, size, interpolation=InterpolationMode.BICUBIC, antialias=True)
            out.append(TF.center_crop(chw, crop))
        return self._normalize(torch.stack(out).float().div_(255.0))

    def pixels(self, images: list) -> "torch.Tensor":
        """(n, 3, H, W) float32 model input for PIL images: exactly `preprocess`, with the tensor steps
        (to float, normalise) run once on the whole batch. Run per image, those two tiny torch ops cost
        more than the resize when the CPU is busy (measured: 5-90 ms instead of 0.6 ms an image)."""
        import torch

        rgb = [im.convert("RGB") for im in images]
        if self._normalize is None:  # a pipeline of another shape: run it as it is, image by image
            return torch.stack([self.preprocess(im) for im in rgb])
        arrays = np.stack([np.asarray(self._image_steps(im), dtype=np.uint8) for im in rgb])  # (n, H, W, 3)
        batch = torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div_(255.0)
        return self._normalize(batch)

    def encode(self, inputs: list, modality: str) -> np.ndarray:
        """(len(inputs), dim) unit float32 rows in input order.

        modality "image": PIL images (any mode and size; converted to RGB and preprocessed as in training);
        modality "text": strings (cut at the model's context length, 77 tokens for ViT-B-32).
        """
        import torch

        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        parts = []
        with torch.inference_mode():
            if modality == "image":
                for i in range(0, len(inputs), self.batch_size):
                    chunk = inputs[i : i + self.batch_size]
                    pixels = self.pixels_on_device(chunk) if self.resize_on_device else self.pixels(chunk).to(self.device)
                    parts.append(self.model.encode_image(pixels, normalize=True).float().cpu().numpy())
            else:
                for i in range(0, len(inputs), TEXT_BATCH):
                    tokens = self.tokenizer([str(t) for t in inputs[i : i + TEXT_BATCH]])
                    parts.append(self.model.encode_text(tokens.to(self.device), normalize=True).float().cpu().numpy())
        return l2_normalize(np.concatenate(parts))


def _split_transform(preprocess):
    """open_clip's eval transform as (its PIL steps, its Normalize), when it ends in ToTensor + Normalize
    (open_clip's image_transform does); else (None, None)."""
    from torchvision import transforms

    steps = list(getattr(preprocess, "transforms", []))
    if len(steps) >= 2 and isinstance(steps[-2], transforms.ToTensor) and isinstance(steps[-1], transforms.Normalize):
        return transforms.Compose(steps[:-2]), steps[-1]
    return None, None


def _resize_crop(steps):
    """(Resize size, CenterCrop size) of open_clip's PIL steps when they are just Resize (bicubic,
    antialiased, no max_size), CenterCrop and a mode conversion; else None (then PIL runs them)."""
    from torchvision import transforms

    steps = list(getattr(steps, "transforms", []))
    if len(steps) < 2 or not isinstance(steps[0], transforms.Resize) or not isinstance(steps[1], transforms.CenterCrop):
        return None
    resize, crop = steps[0], steps[1]
    if resize.interpolation != transforms.InterpolationMode.BICUBIC or resize.max_size is not None or resize.antialias is False:
        return None
    if any(type(s).__name__ != "MaybeConvertMode" for s in steps[2:]):
        return None
    return resize.size, list(crop.size)


def build(settings: dict, model_dir: Path) -> OpenClipEncoder:
    """The profile's `openclip` family: settings folder (in model_dir), arch and pretrained (for the name),
    optional device and batch_size. Raises ModelMissingError naming an absent file."""
    model_dir = Path(model_dir)
    require_files(model_dir, required_files({**settings, "family": "openclip"}), "OpenCLIP")
    name = f"openclip:{settings.get('arch', 'unknown')}:{settings.get('pretrained', 'unknown')}"
    return OpenClipEncoder(model_dir / settings["folder"], name, settings.get("device"), settings.get("batch_size"))
