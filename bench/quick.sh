#!/usr/bin/env bash
# Every benchmark once at small sizes, to check that the suite runs here and prints its ratios
# (about 25 minutes on 2 cores). The full-size runs and their figures: docs/benchmarks.md.
#   .venv/bin/pip install -e ".[bench]" && bash bench/quick.sh
# JSON goes to bench/results/quick/ (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=${OUT:-bench/results/quick}
mkdir -p "$out"
step() { echo; echo "=== $*"; "$@"; }
step $py bench/encoders.py --songs 2 --group 2 --rounds 1 --sentences 64 --covers 8 --out "$out"
step $py bench/indexing.py --songs 6 --no-lyrics --out "$out"
step $py bench/fast_mode.py --max-windows 4 --timing-songs 2 --long-songs 1 --out "$out"
step $py bench/searched_windows.py --out "$out"
step $py bench/queries.py --sizes 1000,2000 --queries 5 --clip-queries 2 --threads 1 --out "$out"
step $py bench/server_hnsw.py --songs 20000 --queries 50 --ef 64,128 --out "$out"
step $py bench/fusion_fit.py --songs 2000 --json "$out/fusion_fit.json"
step $py bench/load.py --clients 5 --seconds 10 --out "$out"
step $py bench/distributed_embed.py --actors 1 --cpus 1 --songs 3 --out "$out"
echo; echo "all benchmarks ran; JSON in $out"
