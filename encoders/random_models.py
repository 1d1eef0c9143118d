"""Random-weight models of the full profile's architectures, written in the real on-disk formats.

Tests and benchmarks use them in place of the published weights (which cannot be fetched where they
run): the files sit where `crossgenre models download` puts the real ones, in the same formats, and
are loaded by the same code users run. Sizes: "tiny" (HTSAT-tiny, a one-layer RoBERTa, a small ViT)
for tests; "real" (HTSAT-base, ViT-B-32: the published models' compute cost) for benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .device import hub_offline

# Text the tiny RoBERTa tokenizer learns its byte-level BPE merges from.
TOKENIZER_CORPUS = (
    "slow brushed drums and warm upright bass in a smoky jazz club",
    "energetic electronic dance music with a heavy kick and bright synth leads",
    "calm acoustic guitar song, soft female vocals, rain on the window",
    "loud distorted guitars, fast punk drums, shouted choruses",
    "sad piano ballad about love and the summer that ended",
)

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_OPENCLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def write_roberta_folder(folder: Path, layers: int = 1, vocab_size: int = 320) -> Path:
    """A RoBERTa folder like the hub's roberta-base (config.json, vocab.json, merges.txt, tokenizer.json).

    Width 768 (CLAP's text projection is fixed to it), `layers` layers, a byte-level BPE vocabulary of
    `vocab_size` tokens learnt from TOKENIZER_CORPUS.
    """
    hub_offline()
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # roberta-base's, at its ids 0..4 in this order
    bpe.train_from_iterator(
        TOKENIZER_CORPUS, vocab_size=vocab_size, min_frequency=1, special_tokens=specials, show_progress=False
    )
    bpe.save_model(str(folder))
    tokenizer = transformers.RobertaTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
    tokenizer.save_pretrained(str(folder))
    (folder / "tokenizer_config.json").unlink(missing_ok=True)  # the hub's roberta-base has none
    (folder / "special_tokens_map.json").unlink(missing_ok=True)
    transformers.RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=768,
        num_hidden_layers=layers,
        num_attention_heads=12,
        intermediate_size=3072 if layers > 1 else 256,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        layer_norm_eps=1e-5,
    ).save_pretrained(str(folder))
    return folder


def write_clap_checkpoint(path: Path, amodel: str, text_dir: Path, seed: int = 0) -> Path:
    """A random CLAP (laion_clap architecture `amodel` + the RoBERTa in text_dir) saved like LAION's files.

    LAION's checkpoints are training states: {"epoch", "state_dict": {"module.<param>": tensor}, ...}, written
    under DistributedDataParallel (hence "module."), with transformers < 4.31 (hence the RoBERTa position ids)
    and a numpy scalar beside the tensors. This writes the same shape of file.
    """
    import torch

    from .clap import build_module

    torch.manual_seed(seed)
    model = build_module(amodel, Path(text_dir), "cpu").model
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    positions = model.text_branch.config.max_position_embeddings
    state["module.text_branch.embeddings.position_ids"] = torch.arange(positions).unsqueeze(0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 15, "name": f"random-{amodel}", "state_dict": state, "best_score": np.float64(0.0)}, path)
    return path


def write_openclip_folder(folder: Path, model_cfg: dict, seed: int = 0) -> Path:
    """A random OpenCLIP model folder like the hub's: open_clip_config.json + open_clip_model.safetensors."""
    hub_offline()
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def write_model_dir(model_dir: Path, profile_settings: dict, size: str = "tiny") -> dict:
    """Random models at the places the profile's settings name; returns those settings, adjusted to the
    written audio architecture (HTSAT-tiny for "tiny", the profile's own for "real")."""
    import open_clip

    if size not in ("tiny", "real"):
        raise ValueError(f"size must be 'tiny' or 'real', not {size!r}")
    model_dir = Path(model_dir)
    settings = json.loads(json.dumps(profile_settings))  # a deep copy
    audio = settings["audio"]
    amodel = "HTSAT-tiny" if size == "tiny" else audio["amodel"]
    for role in ("audio", "describe"):
        settings[role]["amodel"] = amodel
    text_dir = write_roberta_folder(model_dir / audio["text_model"], layers=1)
    write_clap_checkpoint(model_dir / audio["checkpoint"], amodel, text_dir)
    cover_cfg = TINY_OPENCLIP if size == "tiny" else open_clip.get_model_config(settings["cover"]["arch"])
    write_openclip_folder(model_dir / settings["cover"]["folder"], cover_cfg)
    return settings
