"""The CLI lets torch's idle OpenMP threads sleep instead of spinning (encoders.device.passive_idle_threads):
OMP_WAIT_POLICY is set before anything imports torch (libgomp reads it once, when loaded), and a user's value wins."""

import os
import subprocess
import sys

CODE = "import os, sys; import crossgenre.cli; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"


def cli_import(env: dict) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300, check=True)
    return proc.stdout.split()


def test_the_cli_sets_the_wait_policy_before_torch_is_loaded():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert cli_import(env) == ["PASSIVE", "False"]


def test_a_wait_policy_the_user_set_wins():
    assert cli_import({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})[0] == "ACTIVE"
