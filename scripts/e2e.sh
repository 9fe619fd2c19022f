#!/usr/bin/env bash
# End-to-end check with real Singer tools, offline against the bundled Bitbucket simulator.
#
# In throwaway virtualenvs (python3 -m venv) it installs, from PyPI:
#   - singer-tools (singer-check-tap) and target-jsonl: the classic singer-python tools;
#   - meltanolabs-target-csv: a Meltano SDK target that validates every record against its
#     SCHEMA and fails on the first invalid one (the strict target);
#   - meltano, which installs its own target-jsonl from meltano.yml.
# Then, with the simulator's clock at its start:
#   1. tap (default selection) | tee run1.jsonl | target-jsonl; singer-check-tap < run1.jsonl;
#      tap | target-csv;
#   2. meltano install target-jsonl (not the optional warehouse loaders: scripts/warehouse.sh);
#      meltano config list / invoke --about, --test, --discover;
#      meltano run tap-bitbucket target-jsonl; meltano state get;
# and, after moving the simulator's clock 30 days forward:
#   3. tap --state <state of 1> | tee run2.jsonl | target-jsonl; singer-check-tap < run2.jsonl;
#   4. meltano run tap-bitbucket target-jsonl again: Meltano passes the state of its first run,
#      and the run extracts exactly what a direct run from that state extracts (only what
#      changed), fewer pull requests than the first run.
# Every step compares record counts per stream: the tap's RECORD messages, singer-check-tap's
# table, the rows target-jsonl and target-csv wrote, and the lines Meltano's run wrote.
#
# The tap itself is the one a wheel installs: pyproject.toml built with maturin (debug
# profile, reusing cargo's build) and `pip install`ed into a virtualenv; Meltano also installs
# that wheel once through `pip_url`.
#
# Usage: scripts/e2e.sh            (builds the binaries with cargo first)
#   E2E_BIN_DIR=DIR   use the tap-bitbucket (and bitbucket-simulator, else target/debug's)
#                     binaries in DIR instead of building a wheel, e.g. the bin/ of a venv
#                     where a release wheel was installed
#   E2E_KEEP=1        keep the work directory (its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/simulator.sh
root=$PWD
started=$SECONDS
# Where cargo puts its builds (CARGO_TARGET_DIR or build.target-dir may move it from target/).
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

say() { printf '== %s\n' "$*"; }
passed=0
fail() {
  printf 'e2e: FAILED: %s\n' "$*" >&2
  echo "e2e: $passed passed, 1 failed"
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/tap-bitbucket-e2e.XXXXXX")
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  if [ "${E2E_KEEP:-}" = 1 ]; then echo "e2e: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
say "virtualenvs with the tools (python3 -m venv, pip from PyPI), installing in parallel"
python3 --version
install() { # NAME PACKAGE...
  local name=$1; shift
  python3 -m venv "$work/venv-$name" \
    && "$work/venv-$name/bin/pip" install --quiet --disable-pip-version-check "$@" \
    >"$work/pip-$name.log" 2>&1
}
wait_install() { # WHAT PID NAME
  if ! wait "$2"; then
    tail -n 20 "$work/pip-$3.log" >&2 || true
    fail "cannot install $1 from PyPI (log above): this check needs it"
  fi
}
# singer-tools pins jsonschema 2.6 and singer-python, which the SDK target cannot share.
install singer singer-tools target-jsonl & pid_singer=$!
install sdk meltanolabs-target-csv & pid_sdk=$!
install meltano meltano & pid_meltano=$!
[ -z "${E2E_BIN_DIR:-}" ] && { install maturin maturin & pid_maturin=$!; }

# ---------------------------------------------------------------------------------------
wheel=""
if [ -n "${E2E_BIN_DIR:-}" ]; then
  say "binaries from $E2E_BIN_DIR"
  bin_dir=$(cd "$E2E_BIN_DIR" && pwd)
else
  say "binaries: the tap from a wheel (pyproject.toml, maturin), installed with pip"
  cargo build --quiet --workspace --bins
  wait_install maturin "$pid_maturin" maturin
  # The debug profile, which reuses cargo's build: the packaging is what is checked here.
  "$work/venv-maturin/bin/maturin" build --quiet --out "$work/wheels" >"$work/maturin.log" 2>&1 \
    || { tail -n 30 "$work/maturin.log" >&2; fail "maturin build"; }
  wheel=$(ls "$work"/wheels/tap_bitbucket_rs-*.whl)
  python3 -m venv "$work/venv-tap"
  "$work/venv-tap/bin/pip" install --quiet --disable-pip-version-check "$wheel" \
    || fail "pip install $(basename "$wheel")"
  bin_dir=$work/venv-tap/bin
  [ "$("$bin_dir/tap-bitbucket" --version)" = "$("$target_dir/debug/tap-bitbucket" --version)" ] \
    || fail "the wheel's tap-bitbucket is not this version"
  passed=$((passed + 1))
  echo "  $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB, debug build): pip install put tap-bitbucket on PATH"
fi
tap=$bin_dir/tap-bitbucket
simulator=$bin_dir/bitbucket-simulator
[ -x "$simulator" ] || simulator=$target_dir/debug/bitbucket-simulator
[ -x "$tap" ] || fail "no tap-bitbucket in $bin_dir"
[ -x "$simulator" ] || fail "no bitbucket-simulator (run cargo build --workspace --bins)"
echo "  $("$tap" --version) at $tap"

wait_install "singer-tools + target-jsonl" "$pid_singer" singer
wait_install meltanolabs-target-csv "$pid_sdk" sdk
wait_install meltano "$pid_meltano" meltano
singer=$work/venv-singer/bin
sdk=$work/venv-sdk/bin
meltano=$work/venv-meltano/bin/meltano
"$singer/pip" list --disable-pip-version-check 2>/dev/null | grep -Ei '^(singer-tools|singer-python|target-jsonl|jsonschema) '
"$sdk/pip" list --disable-pip-version-check 2>/dev/null | grep -Ei '^(meltanolabs-target-csv|singer-sdk) '
"$meltano" --version

# The helpers: counting records, comparing counts, reading states.
cat >"$work/e2e.py" <<'PY'
import csv, glob, json, os, re, sys

def singer_counts(path):
    counts = {}
    for line in open(path):
        m = json.loads(line)
        if m["type"] == "RECORD":
            counts[m["stream"]] = counts.get(m["stream"], 0) + 1
    return counts

def dir_counts(directory, kind):
    counts = {}
    for path in glob.glob(os.path.join(directory, "*." + kind)):
        # target-jsonl names files <stream>.jsonl or <stream>-<timestamp>.jsonl
        stream = re.sub(r"-\d{8}T\d{6}$", "", os.path.basename(path)[: -len(kind) - 1])
        with open(path, newline="") as f:
            n = sum(1 for _ in csv.DictReader(f)) if kind == "csv" else sum(1 for _ in f)
        counts[stream] = counts.get(stream, 0) + n
    return counts

def check_tap_counts(path):
    # singer-check-tap's table: | stream | records | schemas |
    counts = {}
    for line in open(path):
        m = re.match(r"^\|\s*([a-z_]+)\s*\|\s*(\d+)\s*\|\s*\d+\s*\|$", line.strip())
        if m and m.group(1) != "stream":
            counts[m.group(1)] = int(m.group(2))
    return counts

def load(spec):
    kind, _, path = spec.partition(":")
    if kind == "singer":
        return singer_counts(path)
    if kind == "check":
        return check_tap_counts(path)
    if kind in ("jsonl", "csv"):
        return dir_counts(path, kind)
    raise SystemExit(f"unknown count source {spec}")

def nonzero(counts):
    return {k: v for k, v in counts.items() if v}

cmd = sys.argv[1]
if cmd == "same":  # same WHAT EXPECTED_SPEC ACTUAL_SPEC: equal per-stream counts
    what, expected, actual = sys.argv[2], nonzero(load(sys.argv[3])), nonzero(load(sys.argv[4]))
    if expected != actual or not expected:
        for s in sorted(set(expected) | set(actual)):
            print(f"  {s:<24} expected {expected.get(s, 0):>6}  got {actual.get(s, 0):>6}")
        raise SystemExit(f"{what}: record counts differ (or are empty)")
    print(f"  {what}: {sum(actual.values())} records in {len(actual)} streams, as expected")
elif cmd == "table":  # table SPEC: print the counts
    counts = load(sys.argv[2])
    for s, n in sorted(counts.items()):
        print(f"  {s:<24} {n:>6}")
    print(f"  {'total':<24} {sum(counts.values()):>6}")
elif cmd == "fewer":  # fewer STREAM FIRST_SPEC SECOND_SPEC: 0 < second < first
    stream, first, second = sys.argv[2], load(sys.argv[3]), load(sys.argv[4])
    a, b = first.get(stream, 0), second.get(stream, 0)
    if not 0 < b < a:
        raise SystemExit(f"{stream}: the second run extracted {b} records, the first {a}: expected 0 < second < first")
    print(f"  {stream}: {a} records in the first run, {b} (only what changed) in the second")
elif cmd == "last-state":  # last-state SINGER_FILE OUT: the value of the last STATE message
    value = None
    for line in open(sys.argv[2]):
        m = json.loads(line)
        if m["type"] == "STATE":
            value = m["value"]
    if not value or not value.get("bookmarks"):
        raise SystemExit(f"{sys.argv[2]}: no STATE with bookmarks")
    json.dump(value, open(sys.argv[3], "w"))
elif cmd == "meltano-state":  # meltano-state FILE OUT [PREVIOUS]: the singer_state of `meltano state get`
    text = open(sys.argv[2]).read()
    state = json.loads(text[text.index("{"):])["singer_state"]
    for stream in ("repositories", "pullrequests"):
        if not state["bookmarks"].get(stream, {}).get("partitions"):
            raise SystemExit(f"Meltano's state has no bookmark for {stream}: {state}")
    if len(sys.argv) > 4:
        previous = json.load(open(sys.argv[4]))
        if previous == state:
            raise SystemExit("Meltano's state did not move forward in the second run")
    json.dump(state, open(sys.argv[3], "w"))
    print(f"  Meltano's state: bookmarks for {len(state['bookmarks'])} streams")
elif cmd == "catalog":  # catalog FILE: one JSON document with streams
    streams = json.load(open(sys.argv[2]))["streams"]
    print(f"  meltano invoke tap-bitbucket --discover: a catalog of {len(streams)} streams")
elif cmd == "empty":  # empty FILE: nothing was printed
    if os.path.getsize(sys.argv[2]):
        raise SystemExit(f"{sys.argv[2]} is not empty")
PY
# Each call is one check: it passes, or the script stops with the reason.
e2e() { python3 "$work/e2e.py" "$@" || fail "$1 ${2:-}"; passed=$((passed + 1)); }

# ---------------------------------------------------------------------------------------
say "bundled simulator"
start_simulator "$simulator" "$work/simulator.log" || fail "the simulator did not start"
echo "listening on $api_url"
# sample_config.json with api_url pointed at the simulator, as one file (singer-check-tap and
# most runners take a single --config).
python3 - "$root/sample_config.json" "$api_url" "$work/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["api_url"] = sys.argv[2]
json.dump(config, open(sys.argv[3], "w"))
PY
run_tap() { "$tap" --config "$work/config.json" "$@"; }
cd "$work"

# ---------------------------------------------------------------------------------------
say "1. first sync (no state): tap | target-jsonl, singer-check-tap, tap | target-csv"
mkdir -p jsonl1 jsonl2 csv1
echo '{"destination_path": "jsonl1"}' >target-jsonl-1.json
echo '{"destination_path": "jsonl2"}' >target-jsonl-2.json
echo '{"output_path": "csv1", "validate_records": true, "overwrite_behavior": "replace_file"}' >target-csv.json
run_tap 2>run1.log | tee run1.jsonl | "$singer/target-jsonl" --config target-jsonl-1.json >target-jsonl-1.state \
  2>target-jsonl-1.log || { tail -n 20 run1.log target-jsonl-1.log >&2; fail "tap | target-jsonl"; }
e2e table singer:run1.jsonl
"$singer/singer-check-tap" <run1.jsonl >check1.txt 2>&1 || { cat check1.txt >&2; fail "singer-check-tap on the first sync"; }
passed=$((passed + 1))
grep -q 'The output is valid' check1.txt || { cat check1.txt >&2; fail "singer-check-tap did not say the output is valid"; }
passed=$((passed + 1))
e2e same "singer-check-tap (no state)" singer:run1.jsonl check:check1.txt
e2e same "target-jsonl (no state)" singer:run1.jsonl jsonl:jsonl1
run_tap 2>run1-csv.log | "$sdk/target-csv" --config target-csv.json >target-csv.state 2>target-csv.log \
  || { grep -v METRIC target-csv.log | tail -n 20 >&2; fail "tap | target-csv (records validated against their SCHEMA)"; }
passed=$((passed + 1))
e2e same "meltanolabs-target-csv, validating every record (no state)" singer:run1.jsonl csv:csv1
e2e last-state run1.jsonl state1.json

# ---------------------------------------------------------------------------------------
say "2. Meltano: the repository's meltano.yml, offline against the simulator"
mkdir project && cp "$root/meltano.yml" project/ && cd project
export PATH="$bin_dir:$PATH" TAP_BITBUCKET_API_URL=$api_url MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
"$meltano" install target-jsonl >../meltano-install.log 2>&1 || { tail -n 30 ../meltano-install.log >&2; fail "meltano install target-jsonl"; }
"$meltano" config list tap-bitbucket >../meltano-config.txt 2>&1 || { cat ../meltano-config.txt >&2; fail "meltano config list tap-bitbucket"; }
grep -q "current value: '$api_url' (from the TAP_BITBUCKET_API_URL variable" ../meltano-config.txt \
  || { cat ../meltano-config.txt >&2; fail "meltano config list: api_url does not come from TAP_BITBUCKET_API_URL"; }
passed=$((passed + 1))
echo "  meltano config list tap-bitbucket: api_url from TAP_BITBUCKET_API_URL"
"$meltano" invoke tap-bitbucket --about --format json >../meltano-about.json 2>../meltano-about.log \
  || { cat ../meltano-about.log >&2; fail "meltano invoke tap-bitbucket --about"; }
passed=$((passed + 1))
"$tap" --about --format json | cmp -s - ../meltano-about.json || fail "meltano invoke --about differs from the binary's"
passed=$((passed + 1))
"$meltano" invoke tap-bitbucket --discover >../meltano-catalog.json 2>../meltano-discover.log \
  || { tail -n 20 ../meltano-discover.log >&2; fail "meltano invoke tap-bitbucket --discover"; }
passed=$((passed + 1))
e2e catalog ../meltano-catalog.json
"$meltano" invoke tap-bitbucket --test >../meltano-test.out 2>../meltano-test.log \
  || { grep -v METRIC ../meltano-test.log | tail -n 30 >&2; fail "meltano invoke tap-bitbucket --test"; }
passed=$((passed + 1))
e2e empty ../meltano-test.out
grep -q 'tap-bitbucket --test: .* 0 failed' ../meltano-test.log || { cat ../meltano-test.log >&2; fail "--test summary"; }
passed=$((passed + 1))
echo "  meltano invoke tap-bitbucket --test: $(grep -o '[0-9]* ok, [0-9]* skipped, [0-9]* failed' ../meltano-test.log)"
TARGET_JSONL_DESTINATION_PATH=$work/meltano1 "$meltano" run tap-bitbucket target-jsonl >../meltano-run1.log 2>&1 \
  || { grep -v METRIC ../meltano-run1.log | tail -n 30 >&2; fail "meltano run tap-bitbucket target-jsonl (first)"; }
passed=$((passed + 1))
e2e same "meltano run tap-bitbucket target-jsonl (first run)" singer:../run1.jsonl jsonl:../meltano1
"$meltano" state get dev:tap-bitbucket-to-target-jsonl >../meltano-state1.txt 2>/dev/null
e2e meltano-state ../meltano-state1.txt ../meltano-state1.json
cd ..
if [ -n "$wheel" ]; then
  # The same project with `pip_url:` naming the wheel: `meltano install` installs the tap
  # into the extractor's own virtualenv, and Meltano runs that one (not the one on PATH).
  mkdir project-pip
  sed "s|^    executable: tap-bitbucket\$|&\\n    pip_url: $wheel|" "$root/meltano.yml" >project-pip/meltano.yml
  grep -q "pip_url: $wheel" project-pip/meltano.yml || fail "could not add pip_url to meltano.yml"
  (cd project-pip && PATH=${PATH#"$bin_dir:"} "$meltano" install tap-bitbucket >../meltano-install-pip.log 2>&1 \
    && PATH=${PATH#"$bin_dir:"} "$meltano" invoke tap-bitbucket --version 2>>../meltano-install-pip.log) \
    >meltano-pip-version.txt \
    || { tail -n 30 meltano-install-pip.log >&2; fail "meltano install with pip_url: <the wheel>"; }
  installed=project-pip/.meltano/extractors/tap-bitbucket/venv/bin/tap-bitbucket
  [ -x "$installed" ] && grep -q "^tap-bitbucket " meltano-pip-version.txt \
    || fail "meltano install did not install the wheel's tap-bitbucket"
  passed=$((passed + 1))
  echo "  pip_url: the wheel: meltano install put $(cat meltano-pip-version.txt) in the extractor's virtualenv"
fi

# ---------------------------------------------------------------------------------------
say "moving the simulator's clock 30 days forward"
move_clock 720

say "3. second sync from the first one's STATE: tap --state | target-jsonl, singer-check-tap"
run_tap --state state1.json 2>run2.log | tee run2.jsonl \
  | "$singer/target-jsonl" --config target-jsonl-2.json >target-jsonl-2.state 2>target-jsonl-2.log \
  || { tail -n 20 run2.log target-jsonl-2.log >&2; fail "tap --state | target-jsonl"; }
passed=$((passed + 1))
e2e table singer:run2.jsonl
"$singer/singer-check-tap" <run2.jsonl >check2.txt 2>&1 || { cat check2.txt >&2; fail "singer-check-tap on the second sync"; }
passed=$((passed + 1))
grep -q 'The output is valid' check2.txt || { cat check2.txt >&2; fail "singer-check-tap did not say the output is valid"; }
passed=$((passed + 1))
e2e same "singer-check-tap (with state)" singer:run2.jsonl check:check2.txt
e2e same "target-jsonl (with state)" singer:run2.jsonl jsonl:jsonl2
e2e fewer pullrequests singer:run1.jsonl singer:run2.jsonl

# ---------------------------------------------------------------------------------------
say "4. Meltano's second run: from the state of its first"
# What a run from Meltano's saved state must extract, at this clock.
run_tap --state meltano-state1.json >expected2.jsonl 2>expected2.log || fail "tap --state <Meltano's state>"
cd project
TARGET_JSONL_DESTINATION_PATH=$work/meltano2 "$meltano" run tap-bitbucket target-jsonl >../meltano-run2.log 2>&1 \
  || { grep -v METRIC ../meltano-run2.log | tail -n 30 >&2; fail "meltano run tap-bitbucket target-jsonl (second)"; }
passed=$((passed + 1))
cd ..
e2e same "meltano run (second run, from Meltano's state)" singer:expected2.jsonl jsonl:meltano2
e2e fewer pullrequests jsonl:meltano1 jsonl:meltano2
(cd project && "$meltano" state get dev:tap-bitbucket-to-target-jsonl) >meltano-state2.txt 2>/dev/null
e2e meltano-state meltano-state2.txt meltano-state2.json meltano-state1.json

say "every check passed in $((SECONDS - started)) s"
echo "e2e: $passed passed, 0 failed"
