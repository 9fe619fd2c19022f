#!/usr/bin/env bash
# The demo: build the tap and the bundled Bitbucket simulator, start the simulator on
# 127.0.0.1, discover on sample_config.json (the simulator user's API token), sync the
# catalog as discovery printed it, print the records per stream, then move the simulator's
# clock 30 days forward and sync again from the saved STATE: incremental streams return only
# new and updated objects, full-table streams are read whole. Last, the connection test with
# a workspace access token instead, which shows the streams Bitbucket refuses such tokens.
set -euo pipefail
cd "$(dirname "$0")/.."

out=demo-output
mkdir -p "$out"
echo "== building (cargo build --workspace --bins)"
cargo build --quiet --workspace --bins
# Where cargo puts its builds (CARGO_TARGET_DIR or build.target-dir may move it from target/).
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/debug

source scripts/simulator.sh
sim_pid=""
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true' EXIT
start_simulator "$bin/bitbucket-simulator" "$out/simulator.log"
echo "== simulator listening on $api_url"
# sample_config.json, with api_url pointed at this simulator (later --config files win).
printf '{"api_url": "%s"}\n' "$api_url" >"$out/simulator-config.json"
config=(--config sample_config.json --config "$out/simulator-config.json")

echo "== discover -> $out/catalog.json (used as it is: it selects the streams selected by default)"
"$bin/tap-bitbucket" "${config[@]}" --discover >"$out/catalog.json"

# Records per stream of each run so far, in a table with the stream's replication method.
table() {
  python3 - "$out/catalog.json" "$@" <<'PY'
import collections, json, sys
catalog = {s["tap_stream_id"]: s for s in json.load(open(sys.argv[1]))["streams"]}
runs = []
for path in sys.argv[2:]:
    counts = collections.Counter()
    for line in open(path):
        message = json.loads(line)
        if message["type"] == "RECORD":
            counts[message["stream"]] += 1
    runs.append(counts)
streams = [s for s in catalog if any(s in run for run in runs)]
kind = {s: "incremental" if catalog[s]["replication_method"] == "INCREMENTAL" else "full table" for s in streams}
width = max(len(s) for s in streams + ["total"])
heads = [f"run {i}" for i in range(1, len(runs) + 1)]
print(f"  {'stream':<{width}}  {'replication':<11}" + "".join(f"  {h:>7}" for h in heads))
for s in streams:
    print(f"  {s:<{width}}  {kind[s]:<11}" + "".join(f"  {run[s]:>7}" for run in runs))
print(f"  {'total':<{width}}  {'':<11}" + "".join(f"  {sum(run.values()):>7}" for run in runs))
PY
}

# The last line of a sync is always a STATE covering the whole run: the next run's --state.
save_state() {
  tail -n 1 "$1" | python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["value"], open(sys.argv[1], "w"))' "$2"
}

echo "== first sync -> $out/run1.jsonl"
"$bin/tap-bitbucket" "${config[@]}" --catalog "$out/catalog.json" >"$out/run1.jsonl" 2>"$out/run1.log"
table "$out/run1.jsonl"
save_state "$out/run1.jsonl" "$out/state1.json"

echo "== moving the simulator's clock 30 days forward"
move_clock 720

echo "== second sync from the saved STATE -> $out/run2.jsonl"
"$bin/tap-bitbucket" "${config[@]}" --catalog "$out/catalog.json" --state "$out/state1.json" \
  >"$out/run2.jsonl" 2>"$out/run2.log"
table "$out/run1.jsonl" "$out/run2.jsonl"
save_state "$out/run2.jsonl" "$out/state2.json"
cat <<'TEXT'
  incremental: run 2 returns only objects created or updated since run 1 (plus those exactly
    at the bookmark, and for commits the newest pages: graph order is not date order);
  full table: read whole on every run (no API filter by date; a target replaces them).
TEXT

echo "== connection test with a workspace access token instead of the API token (tap-bitbucket --test)"
python3 - sample_config.json "$api_url" "$out/access-token-config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
for key in ("email", "api_token"):
    config.pop(key, None)
config.update(api_url=sys.argv[2], access_token="demo-token")
json.dump(config, open(sys.argv[3], "w"))
PY
"$bin/tap-bitbucket" --config "$out/access-token-config.json" --test 2>"$out/test-access-token.log" || true
# The summary, each reason without Bitbucket's own message (the log has it whole).
grep -E '^(tap-bitbucket --test|  )' "$out/test-access-token.log" | sed 's/, and Bitbucket refused .*$/ …/'
cat <<'TEXT'
  Bitbucket refuses access tokens the permission streams and the user streams (an access
  token is not a user): a sync skips them with a warning (one per repository for the
  permission streams) and still exits 0. The API token (email + api_token) of the syncs above
  reads them; "Credentials and scopes" in docs/streams.md lists what each stream needs.
TEXT
echo "== done: messages in $out/run1.jsonl and $out/run2.jsonl, logs beside them"
