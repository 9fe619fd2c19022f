#!/usr/bin/env bash
# The demo: build the tap and the bundled Bitbucket simulator, start the simulator on
# 127.0.0.1, discover on sample_config.json, sync everything to a file, print the records
# per stream, then move the simulator's clock 30 days forward and run again from the saved
# STATE to show that only new and updated objects come back.
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

"$bin/bitbucket-simulator" --port 0 >"$out/simulator.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
api_url=""
for _ in $(seq 1 100); do
  api_url=$(sed -n 's/^bitbucket-simulator listening on \(http[^ ]*\).*/\1/p' "$out/simulator.log" | head -n 1)
  [ -n "$api_url" ] && break
  sleep 0.1
done
[ -n "$api_url" ] || { echo "the simulator did not start:" >&2; cat "$out/simulator.log" >&2; exit 1; }
echo "== simulator listening on $api_url"
# sample_config.json, with api_url pointed at this simulator (later --config files win).
printf '{"api_url": "%s"}\n' "$api_url" >"$out/simulator-config.json"
config=(--config sample_config.json --config "$out/simulator-config.json")

echo "== discover -> $out/catalog.json, selecting every stream selected by default"
"$bin/tap-bitbucket" "${config[@]}" --discover >"$out/discovered.json"
python3 - "$out/discovered.json" "$out/catalog.json" <<'PY'
import json, sys
catalog = json.load(open(sys.argv[1]))
for stream in catalog["streams"]:
    top = next(m for m in stream["metadata"] if m["breadcrumb"] == [])["metadata"]
    top["selected"] = top.get("selected-by-default", False)
json.dump(catalog, open(sys.argv[2], "w"))
PY

count() {
  python3 - "$1" <<'PY'
import json, sys, collections
counts = collections.Counter()
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["type"] == "RECORD":
        counts[m["stream"]] += 1
for stream, n in sorted(counts.items()):
    print(f"  {stream:<20} {n:>6} records")
print(f"  {'total':<20} {sum(counts.values()):>6} records")
PY
  # The last line is always a STATE covering the whole run: the next run's --state.
  tail -n 1 "$1" | python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["value"], open(sys.argv[1], "w"))' "$2"
}

echo "== first sync -> $out/run1.jsonl"
"$bin/tap-bitbucket" "${config[@]}" --catalog "$out/catalog.json" >"$out/run1.jsonl" 2>"$out/run1.log"
count "$out/run1.jsonl" "$out/state1.json"

echo "== moving the simulator's clock 30 days forward"
python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"))' \
  "${api_url%/2.0}/_simulator/clock?offset_hours=720"

echo "== second sync from the saved STATE -> $out/run2.jsonl (only new and updated objects)"
"$bin/tap-bitbucket" "${config[@]}" --catalog "$out/catalog.json" --state "$out/state1.json" \
  >"$out/run2.jsonl" 2>"$out/run2.log"
count "$out/run2.jsonl" "$out/state2.json"
echo "== done: messages in $out/run1.jsonl and $out/run2.jsonl, logs beside them"
