#!/usr/bin/env bash
# Warehouse check: every stream of the tap loads through Meltano into DuckDB and PostgreSQL,
# twice, without duplicates, offline against the bundled Bitbucket simulator.
#
# From a clean clone, in a throwaway work directory, it
#   - builds the tap and the simulator (debug, reusing cargo's build);
#   - installs from PyPI into throwaway virtualenvs, with uv (much faster than pip; its cache
#     lives in the work directory too, so nothing from an earlier run is reused):
#       meltano 4.4.1, which (`meltano install target-duckdb target-postgres`) installs the two
#       loaders the repository's meltano.yml declares, with its pins:
#       target-duckdb 0.8.0 with duckdb 1.0.0, and meltanolabs-target-postgres 0.8.1;
#   - starts the simulator and a throwaway PostgreSQL cluster (Debian's package; installed
#     with apt-get if missing) on 127.0.0.1, a free port, in a temporary directory, as the
#     `postgres` account the package creates (or `nobody`) when run as root, since the server
#     refuses to run as root; its time zone is deliberately not UTC (see PGTZ in meltano.yml);
#     stopped and removed on exit, also on failure;
# then checks that a small stream of timestamps with offsets (+02:00, Z, -05:30...) lands in
# UTC in both databases (`meltano invoke target-...`), and, with EVERY stream selected (Meltano's `select`, set to `*.*` by
# TAP_BITBUCKET__SELECT: the default streams and the others; streams come from the tap's
# discovery, never from a list here, so new streams are checked as they land), and each
# loader in its own Meltano project so that both pipelines run side by side:
#   1. `meltano run tap-bitbucket target-duckdb` and `... target-postgres`, the tap's stdout
#      copied on its way to the target (a tee around the tap, on PATH); checks that the state
#      Meltano stored (`meltano state get`) is the tap's last STATE, and for every stream
#      that its table holds exactly the distinct key_properties tuples the tap emitted, in
#      sensible SQL types (timestamps, integers, JSON for nested objects), with no column
#      the stream's schema does not have;
#   2. moves the simulator's clock 30 days on, turns the tap's activate_version on, and runs
#      both again, from the state Meltano stored; checks that each run extracted what the tap
#      run directly from that stored state extracts (fewer records than the first time),
#      that each table holds the distinct keys of both runs (upserts, no duplicates), that
#      the rows this run wrote (a new `_sdc_batched_at`) are exactly the keys it extracted,
#      that the stored state is the tap's last STATE, that the proof queries
#      (scripts/warehouse.py) give on each database what the tap's records give, and what
#      became of the FULL_TABLE rows that vanished (the files of the previous head commit
#      in `directory_contents`, whose key holds the commit): target-postgres (as shipped:
#      activate_version on, hard_delete off) marks them with `_sdc_deleted_at`;
#      target-duckdb ignores ACTIVATE_VERSION and keeps them. A FULL_TABLE stream with a
#      skipped partition (a 403) gets no ACTIVATE_VERSION, and its rows must stay.
# After each of the two runs, every metric query of sql/ (spec §3c) runs, unchanged, on both
# databases, and its result must equal, row by row, the figures scripts/warehouse_metrics.py
# computes independently from the simulator's own API pages (urllib, the tap's credentials,
# at the same clock: not from the tap's output nor from SQL), hours within the queries'
# rounding; each query must return rows. After the second, scripts/metrics_chart.py draws
# the README's chart from the DuckDB tables (a well-formed SVG).
#
# Pins, and why:
#   - target-duckdb 0.8.0 is the latest release; with a newer DuckDB it can lose the first
#     row of a batch (it COPYs header-less CSV files and newer DuckDB may guess a header;
#     fixed on its main branch, unreleased). Seen here: every row with DuckDB 1.0.0, 1.1.3
#     and 1.2.2; from 1.3.2 on (1.4.4, 1.5.6, 2.0.1 too) the first row of each small table
#     is lost, and this check fails naming each stream. DuckDB 1.0.0 is pinned.
#   - meltanolabs-target-postgres 0.8.1 and meltano 4.4.1 are the latest releases, as
#     checked here; uv 0.13.9 (what meltano 4.4.1 pulls in) only installs.
#
# How the targets lay a stream out (what the metric queries of spec §3c build on):
#   - One table per stream, named as the stream, in the schema `tap_bitbucket`
#     (default_target_schema); DuckDB's database is output/bitbucket.duckdb (catalog
#     `bitbucket`). Set the schema on the connection: DuckDB `USE bitbucket.tap_bitbucket`,
#     PostgreSQL `SET search_path TO tap_bitbucket`. Primary key: the stream's
#     key_properties; both upsert on it.
#   - Top-level fields are columns under their own names. Nested objects: DuckDB JSON,
#     PostgreSQL jsonb. Arrays: DuckDB JSON; PostgreSQL jsonb[] (arrays of objects, e.g.
#     `reviewers`) or text[] (arrays of strings): not the same type.
#   - Portable syntax (runs unchanged on DuckDB 1.0 and PostgreSQL 15):
#       author->>'uuid', merge_commit->>'hash', approval->'user'->>'uuid'  (text out)
#       json_array_length(to_json(reviewers)), to_json(reviewers)->0->>'uuid'  (arrays)
#       cast(x->>'n' as bigint); date_trunc('week', ts) (Monday; cast(... as date));
#       extract(epoch from (t2 - t1)) / 3600 (hours; round(cast(... as numeric), 2), as
#       PostgreSQL has no round(double, int)); a LIKE b || '%' or starts_with(a, b) (prefix
#       join); count(*) filter (where ...); lag(ts) over (partition by ... order by ts)
#     Quote the column `user` (comments, members, permissions have one): "user"->>'uuid'.
#     A bare `user` is CURRENT_USER on PostgreSQL: it returns the role's name, silently.
#   - Timestamps (`format: date-time`) are `timestamp` (without time zone) columns in UTC:
#     DuckDB converts an offset to UTC when it parses; target-postgres writes in the
#     session's time zone, so meltano.yml gives it PGTZ=UTC (this check's server runs in
#     another zone to prove it). A timestamp INSIDE a JSON object is text: use
#     cast(cast(x->>'completed_on' as timestamptz) at time zone 'UTC' as timestamp);
#     a plain cast(... as timestamp) converts the offset on DuckDB but drops it on PostgreSQL.
#   - Integers are BIGINT on both (the schemas carry i64's bounds; without a maximum
#     target-duckdb would make them HUGEINT); booleans BOOLEAN; strings VARCHAR / text.
#   - Metadata columns on both (add_metadata_columns / add_record_metadata): _sdc_extracted_at,
#     _sdc_batched_at, _sdc_deleted_at (PostgreSQL also _sdc_received_at, _sdc_sequence,
#     _sdc_table_version, _sdc_sync_started_at; DuckDB's _sdc_batched_at is the loader's
#     local time, not UTC: compare it only with itself). With activate_version on, PostgreSQL keeps a
#     FULL_TABLE row that vanished with _sdc_deleted_at set, so queries over FULL_TABLE tables
#     filter `_sdc_deleted_at is null` (portable: the column exists, always null, in DuckDB).
#
# Usage: scripts/warehouse.sh
#   WAREHOUSE_KEEP=1   keep the work directory (its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/simulator.sh
root=$PWD
started=$SECONDS
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

MELTANO_VERSION=4.4.1
UV_VERSION=0.13.9

say() { printf '== %s\n' "$*"; }
passed=0
fail() {
  printf 'warehouse: FAILED: %s\n' "$*" >&2
  echo "warehouse: $passed passed, 1 failed"
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/tap-bitbucket-warehouse.XXXXXX")
sim_pid="" pg_dir="" pg_user="" pg_bin=""
as_pg_user() { if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  if [ -n "$pg_dir" ]; then
    [ -f "$pg_dir/data/postmaster.pid" ] \
      && as_pg_user "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
  if [ "${WAREHOUSE_KEEP:-}" = 1 ]; then echo "warehouse: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
say "Meltano into a throwaway virtualenv (pip installs uv, uv installs Meltano), in the background"
export UV_CACHE_DIR=$work/uv-cache PIP_CACHE_DIR=$work/pip-cache UV_PYTHON_DOWNLOADS=never
python3 --version
(python3 -m venv "$work/venv-meltano" \
  && "$work/venv-meltano/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
  && "$work/venv-meltano/bin/uv" pip install --quiet --python "$work/venv-meltano/bin/python" \
    "meltano==$MELTANO_VERSION" "uv==$UV_VERSION") >"$work/pip-meltano.log" 2>&1 &
pid_meltano=$!

say "binaries: cargo build (debug)"
cargo build --quiet --workspace --bins
tap=$target_dir/debug/tap-bitbucket
simulator=$target_dir/debug/bitbucket-simulator
echo "  $("$tap" --version) at $tap"

# ---------------------------------------------------------------------------------------
say "a throwaway PostgreSQL cluster on 127.0.0.1"
find_pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  command -v pg_ctl >/dev/null && dirname "$(readlink -f "$(command -v pg_ctl)")"
}
pg_bin=$(find_pg_bin || true)
if [ -z "$pg_bin" ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || fail "no PostgreSQL server (initdb, pg_ctl): install Debian's postgresql package"
  echo "  installing Debian's postgresql package (apt-get), without its default cluster"
  mkdir -p /etc/postgresql-common
  [ -e /etc/postgresql-common/createcluster.conf ] \
    || echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql; } \
    >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; fail "apt-get install postgresql"; }
  pg_bin=$(find_pg_bin || true)
  [ -n "$pg_bin" ] || fail "postgresql installed, but no initdb and pg_ctl under /usr/lib/postgresql"
fi
# The server refuses to run as root: then it runs as the `postgres` account that Debian's
# package creates (`nobody` if there is none); otherwise as whoever runs this script.
if [ "$(id -u)" = 0 ]; then
  pg_user=postgres
  id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
fi
# In /tmp, not $TMPDIR: the server's account must reach it.
pg_dir=$(mktemp -d /tmp/tap-bitbucket-warehouse-pg.XXXXXX)
[ -n "$pg_user" ] && chown "$pg_user" "$pg_dir"
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg_user "$pg_bin/initdb" --no-sync -D "$pg_dir/data" -U warehouse --auth=trust -E UTF8 --locale=C \
  >"$work/initdb.log" 2>&1 || { tail -n 20 "$work/initdb.log" >&2; fail "initdb ($pg_bin, as ${pg_user:-$(id -un)})"; }
# Not UTC on purpose: the loaded timestamps must not depend on the server's time zone.
as_pg_user "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories='$pg_dir' -c fsync=off -c timezone=Asia/Kolkata" \
  start >"$work/pg_ctl.log" 2>&1 || { cat "$work/pg_ctl.log" "$pg_dir/server.log" >&2; fail "pg_ctl start"; }
echo "  $("$pg_bin/postgres" --version) on 127.0.0.1:$pg_port, data in $pg_dir, as ${pg_user:-$(id -un)}"
passed=$((passed + 1))

# ---------------------------------------------------------------------------------------
say "bundled simulator"
# WAREHOUSE_SIMULATOR_ARGS: other data, e.g. "--seed 7" (the checks compute their figures from the API).
start_simulator "$simulator" "$work/simulator.log" ${WAREHOUSE_SIMULATOR_ARGS:-} || fail "the simulator did not start"
echo "  listening on $api_url"

# ---------------------------------------------------------------------------------------
say "Meltano: the repository's meltano.yml, one project per loader (they run side by side)"
if ! wait "$pid_meltano"; then
  tail -n 20 "$work/pip-meltano.log" >&2
  fail "cannot install meltano from PyPI (log above): this check needs it"
fi
meltano=$work/venv-meltano/bin/meltano
wh() { python3 "$root/scripts/warehouse.py" "$@" || fail "$1 ${2:-}"; passed=$((passed + 1)); }
# The tap as Meltano runs it, with a copy of what it writes on stdout while it syncs (in
# $WAREHOUSE_TAP_COPY): what the target received, to compare the tables and the stored state
# with.
mkdir "$work/bin"
cat >"$work/bin/tap-bitbucket" <<SH
#!/usr/bin/env bash
set -o pipefail
case " \$* " in *" --discover "* | *" --about "* | *" --version "* | *" --test "* | *" --help "*) exec "$tap" "\$@" ;; esac
"$tap" "\$@" | tee "\${WAREHOUSE_TAP_COPY:?}"
SH
chmod +x "$work/bin/tap-bitbucket"
export PATH="$work/bin:$PATH" MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export TAP_BITBUCKET_API_URL=$api_url TAP_BITBUCKET__SELECT='["*.*"]'
export TARGET_POSTGRES_HOST=127.0.0.1 TARGET_POSTGRES_PORT=$pg_port TARGET_POSTGRES_USER=warehouse \
  TARGET_POSTGRES_PASSWORD=unused TARGET_POSTGRES_DATABASE=postgres
targets="duckdb postgres"
# both FUNCTION ARGS...: `FUNCTION TARGET ARGS...` for each target, side by side (each loader
# has its own Meltano project); prints what each printed, and fails naming the targets whose
# run failed once all have ended (none is left running).
both() {
  local fn=$1 target pids=() i=0 failed=""
  shift
  for target in $targets; do
    "$fn" "$target" "$@" >"$work/$fn-$target.out" 2>&1 &
    pids+=($!)
  done
  for target in $targets; do
    if wait "${pids[$i]}"; then
      passed=$((passed + 1))
      cat "$work/$fn-$target.out"
    else
      cat "$work/$fn-$target.out" >&2
      failed="$failed target-$target"
    fi
    i=$((i + 1))
  done
  [ -z "$failed" ] || fail "$fn $*:$failed (output above)"
}
for target in $targets; do
  mkdir -p "$work/project-$target/output" && cp "$root/meltano.yml" "$work/project-$target/"
done
install_loader() { # TARGET
  cd "$work/project-$1"
  "$meltano" install "target-$1" >"$work/meltano-install-$1.log" 2>&1 \
    || { grep -v '^\s*$' "$work/meltano-install-$1.log" | tail -n 30; echo "meltano install target-$1 failed"; return 1; }
}
install_started=$SECONDS
both install_loader
python_of() { echo "$work/project-$1/.meltano/loaders/target-$1/venv/bin/python"; }
echo "  meltano install target-duckdb, target-postgres: $((SECONDS - install_started)) s:" \
  $("$work/venv-meltano/bin/uv" pip list --python "$work/venv-meltano/bin/python" 2>/dev/null | grep -Ei '^meltano ' | tr -s ' ' '=') \
  $("$work/venv-meltano/bin/uv" pip list --python "$(python_of duckdb)" 2>/dev/null | grep -Ei '^(target-duckdb|duckdb) ' | tr -s ' ' '=') \
  $("$work/venv-meltano/bin/uv" pip list --python "$(python_of postgres)" 2>/dev/null | grep -Ei '^(meltanolabs-target-postgres|singer-sdk|psycopg) ' | tr -s ' ' '=')
database_of() {
  case $1 in
    duckdb) echo "$work/project-duckdb/output/bitbucket.duckdb" ;;
    postgres) echo "host=127.0.0.1 port=$pg_port user=warehouse dbname=postgres" ;;
  esac
}
cd "$work"
"$tap" --config "$root/sample_config.json" --discover >discovered.json 2>/dev/null || fail "tap-bitbucket --discover"
wh catalog discovered.json catalog-all.json
# The config of a direct run: sample_config.json (what meltano.yml configures) at the simulator.
python3 - "$root/sample_config.json" "$api_url" config.json <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["api_url"] = sys.argv[2]
json.dump(config, open(sys.argv[3], "w"))
PY

# meltano_run TARGET N: `meltano run tap-bitbucket target-TARGET` (the tap's output copied to
# TARGET-runN.jsonl), `meltano state get`, then what the database holds, in TARGET-N.json.
# Both targets run side by side, each in its own project; the checks come after.
meltano_run() {
  local target=$1 n=$2 t0=$SECONDS
  cd "$work/project-$target"
  WAREHOUSE_TAP_COPY=$work/$target-run$n.jsonl "$meltano" run tap-bitbucket "target-$target" \
    >"$work/meltano-run-$target-$n.log" 2>&1 \
    || { grep -v METRIC "$work/meltano-run-$target-$n.log" | tail -n 30; echo "meltano run tap-bitbucket target-$target (run $n) failed"; return 1; }
  echo "  meltano run tap-bitbucket target-$target: $((SECONDS - t0)) s"
  "$meltano" state get "dev:tap-bitbucket-to-target-$target" >"$work/state-$target-$n.txt" 2>"$work/state-$target-$n.log" \
    || { cat "$work/state-$target-$n.log"; echo "meltano state get dev:tap-bitbucket-to-target-$target failed"; return 1; }
  "$(python_of "$target")" "$root/scripts/warehouse.py" dump "$target" "$(database_of "$target")" tap_bitbucket \
    "$work/discovered.json" "$work/$target-$n.json" || { echo "reading the $target database failed"; return 1; }
}
# metrics_check N: every query of sql/ (run on each database by `warehouse.py dump`, in
# TARGET-N.json) against the figures scripts/warehouse_metrics.py computes from the
# simulator's own API pages, at the same clock, without the tap, the loaders or SQL.
metrics_check() {
  say "the metric queries of sql/ on both databases, row by row against the simulator's API"
  python3 "$root/scripts/warehouse_metrics.py" expected config.json "expected-$1.json" \
    || fail "computing the metrics from the simulator's API"
  passed=$((passed + 1))
  for target in $targets; do
    python3 "$root/scripts/warehouse_metrics.py" check "$target" "$target-$1.json" "expected-$1.json" \
      || fail "the metric queries of sql/ on $target (run $1): mismatches above"
    passed=$((passed + 1))
  done
}
run_both() { # N
  both meltano_run "$1"
  python3 "$root/scripts/warehouse.py" records "$work/duckdb-run$1.jsonl"
}

# ---------------------------------------------------------------------------------------
say "timestamps with offsets: a small stream through each target (meltano invoke), read back"
wh offsets-stream offsets.jsonl
offsets() { # TARGET: into the schema offset_probe, beside the tables of the streams
  cd "$work/project-$1"
  env "TARGET_$(echo "$1" | tr a-z A-Z)_DEFAULT_TARGET_SCHEMA=offset_probe" \
    "$meltano" invoke "target-$1" <"$work/offsets.jsonl" >"$work/offsets-$1.log" 2>&1 \
    || { grep -v METRIC "$work/offsets-$1.log" | tail -n 20; echo "meltano invoke target-$1 failed"; return 1; }
  "$(python_of "$1")" "$root/scripts/warehouse.py" offsets "$1" "$(database_of "$1")"
}
both offsets

# ---------------------------------------------------------------------------------------
say "1. first runs, every stream selected, no state"
run_both 1
for target in $targets; do
  wh meltano-state "state-$target-1.txt" "$target-run1.jsonl" "state-$target-1.json"
  wh loaded "$target" "$target-1.json" discovered.json "$target-run1.jsonl"
done
wh same-records "target-postgres's run" duckdb-run1.jsonl postgres-run1.jsonl
metrics_check 1

# ---------------------------------------------------------------------------------------
say "2. the simulator's clock 30 days on, activate_version on; second runs, from the state Meltano stored"
move_clock 720
export TAP_BITBUCKET_ACTIVATE_VERSION=true
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["activate_version"] = True; json.dump(c, open(sys.argv[1], "w"))' config.json
run_both 2
for target in $targets; do
  # What the tap extracts, run directly from the state Meltano stored after the first run.
  "$tap" --config config.json --catalog catalog-all.json --state "state-$target-1.json" \
    >"direct-$target-2.jsonl" 2>"direct-$target-2.log" \
    || { grep -v METRIC "direct-$target-2.log" | tail -n 20 >&2; fail "tap-bitbucket --state state-$target-1.json"; }
  wh same-records "meltano run tap-bitbucket target-$target (second run)" "direct-$target-2.jsonl" "$target-run2.jsonl"
  wh meltano-state "state-$target-2.txt" "$target-run2.jsonl"
  wh loaded "$target" "$target-2.json" discovered.json "$target-run1.jsonl" "$target-run2.jsonl"
  wh changed "$target" "$target-1.json" "$target-2.json" "$target-run2.jsonl"
  wh proof "$target-2.json" "$target-run1.jsonl" "$target-run2.jsonl"
done
wh fewer duckdb-run1.jsonl duckdb-run2.jsonl discovered.json
metrics_check 2
# The chart of the README (docs/metrics.svg, there from a fixed anchor) from these tables.
"$(python_of duckdb)" "$root/scripts/metrics_chart.py" "$(database_of duckdb)" metrics.svg >metrics-chart.log 2>&1 \
  && python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' metrics.svg \
  || { cat metrics-chart.log >&2; fail "scripts/metrics_chart.py"; }
passed=$((passed + 1))
echo "  scripts/metrics_chart.py: an SVG of $(wc -c <metrics.svg) bytes from the DuckDB tables"
# FULL_TABLE rows that vanished (the files of the main branch's previous head commit in
# `directory_contents`, whose key holds the commit): target-postgres (activate_version on,
# hard_delete off, as shipped) marks them with _sdc_deleted_at; target-duckdb ignores
# ACTIVATE_VERSION and keeps them as they were.
wh activated duckdb duckdb-1.json duckdb-2.json duckdb-run2.jsonl discovered.json ignore
wh activated postgres postgres-1.json postgres-2.json postgres-run2.jsonl discovered.json soft-delete

say "every check passed in $((SECONDS - started)) s"
echo "warehouse: $passed passed, 0 failed"
