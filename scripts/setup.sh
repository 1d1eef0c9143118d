#!/usr/bin/env bash
# Set up crossgenre in ./.venv from this checkout: the project with its pinned dependencies, and the
# offline profile's audio weights (musicnn, installed without its TensorFlow dependency, which
# crossgenre never needs). With --test: the test tools, Debian's Chromium for the browser tests, and a
# real Subsonic server (Supysonic) in its own .venv-subsonic, apart from the project's pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi
.venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras}"
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps musicnn==0.1.0
if [ -n "$extras" ] && ! command -v chromium >/dev/null; then
  echo "Installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ -n "$extras" ] && [ ! -x .venv-subsonic/bin/supysonic-server ]; then
  "$PYTHON" -m venv .venv-subsonic
  .venv-subsonic/bin/pip install --quiet --disable-pip-version-check supysonic==0.7.9 waitress==3.0.2
fi
echo "crossgenre is set up in .venv"
