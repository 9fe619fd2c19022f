#!/usr/bin/env bash
# The benchmark (never part of `cargo test`): builds tap-bitbucket and the bundled simulator
# with --release, makes a virtualenv with the Meltano Singer SDK (target/bench-venv), then runs
# scripts/bench/bench.py, which syncs against the simulator and prints:
#   - requests per stream against the API minimum,
#   - CPU per record, records/s and peak RSS at about 10k, 100k and 1M records (failing if a
#     repository or pull request is missing: the large sizes of tests/it/large.rs),
#   - wall time with 50 ms per request at max_concurrency 1, 4, 8, 16,
#   - the same sync through a minimal Singer SDK tap (scripts/bench/tap_bench_sdk.py),
#   - the engineering-metrics streams against the API minimum, and a rerun where nothing changed.
# Results also go to target/bench/results.md. Takes about 10 minutes on 2 cores (the 1M sync
# dominates); BENCH_SIZES=10k,100k makes it quicker. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building (cargo build --release --workspace --bins)"
cargo build --quiet --release --workspace --bins
# Where cargo puts its builds (CARGO_TARGET_DIR or build.target-dir may move it from target/).
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export BENCH_TARGET_DIR=$target_dir

venv=target/bench-venv
sdk_version=0.54.9
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('singer-sdk') != '$sdk_version')" 2>/dev/null; then
  echo "== making $venv with singer-sdk==$sdk_version"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "singer-sdk==$sdk_version"
fi

exec python3 scripts/bench/bench.py
