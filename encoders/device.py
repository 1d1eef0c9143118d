"""Where deep encoders run: the torch device, and the CPU thread count set once per process."""

from __future__ import annotations

import os
import sys
import threading

_threads_lock = threading.Lock()
_threads_set = False


def usable_cpus() -> int:
    """CPU cores this process may run on (the affinity mask, which containers narrow; else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def passive_idle_threads() -> None:
    """Let torch's OpenMP threads sleep as soon as they run out of work instead of spinning: a spinning
    thread burns a core that the decode thread and the other encoders beside it need, for nothing.

    libgomp reads OMP_WAIT_POLICY once, when torch loads it: call this before torch is imported. A
    value the user set wins. It changes no result, only how idle threads wait."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def configure_threads() -> int:
    """Let torch use every usable core for its intra-op pool, once per process; returns the thread count.

    torch's default is the number of physical cores, which leaves hyper-threads idle on small machines.
    An explicit OMP_NUM_THREADS from the user wins: then torch's own setting is left alone.
    """
    global _threads_set
    import torch

    with _threads_lock:
        if not _threads_set and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(usable_cpus())
        _threads_set = True
        return torch.get_num_threads()


def torch_device() -> str:
    """'cuda' when a CUDA GPU is visible, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hub_offline() -> None:
    """Make the Hugging Face libraries refuse the network for the rest of the process.

    laion_clap builds hub tokenizers when imported and transformers looks names up on the hub; with
    this set they fail fast (or fall back to local files) instead of retrying for minutes. crossgenre
    reaches the network only in `crossgenre models download`, which lifts the switch for its own calls.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # huggingface_hub reads the variable when first imported; catch an earlier import too
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
