"""The checks of scripts/warehouse.sh: what the tap emitted against what the warehouses hold.

Two halves, so that the checking needs nothing but the standard library:
  - `dump` runs inside a target's own virtualenv (the one `meltano install` made: it has
    duckdb, or psycopg) and writes what one database holds as JSON: every table of the
    schema with its columns and SQL types, each row's key and `_sdc_*` columns, and the
    results of the portable proof queries below and of the metric queries of sql/;
  - every other command runs with plain python3 and compares such dumps with the tap's own
    output: its stdout as Meltano ran it (copied on its way to the target), and a run of
    the tap alone from the state Meltano stored.
Every failure is one line naming the stream, the table and what was expected against what
was found; the command exits non-zero.

Usage (see warehouse.sh):
  warehouse.py catalog DISCOVERED_CATALOG OUT.json      # every stream selected
  warehouse.py records RUN.jsonl
  warehouse.py same-records WHAT EXPECTED.jsonl ACTUAL.jsonl
  warehouse.py fewer FIRST.jsonl SECOND.jsonl DISCOVERED_CATALOG
  warehouse.py meltano-state STATE_GET_OUTPUT RUN.jsonl [OUT.json]
  warehouse.py dump duckdb PATH SCHEMA CATALOG OUT.json    # in target-duckdb's virtualenv
  warehouse.py dump postgres DSN SCHEMA CATALOG OUT.json   # in target-postgres's virtualenv
  warehouse.py loaded TARGET DUMP CATALOG RUN.jsonl...  # keys and types of every stream
  warehouse.py changed TARGET BEFORE AFTER RUN.jsonl  # rows the run wrote = what it extracted
  warehouse.py activated TARGET BEFORE AFTER RUN.jsonl CATALOG ignore|soft-delete|hard-delete
  warehouse.py proof DUMP RUN.jsonl...                # proof queries against the tap's data
  warehouse.py offsets-stream OUT.jsonl               # a stream of timestamps with offsets
  warehouse.py offsets duckdb|postgres PATH|DSN       # how they landed (in the target's venv)
"""

import datetime as dt
import json
import sys
from collections import defaultdict
from pathlib import Path

# The metric queries of spec §3c, shipped in the repository's sql/.
SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Portable SQL, run unchanged on DuckDB 1.0 and PostgreSQL 15 (the schema is set on the
# connection, never written here). Nested objects are JSON (DuckDB) or jsonb (PostgreSQL):
# `col->'key'` walks into them and `col->>'key'` reads a text value; arrays are JSON on
# DuckDB but `jsonb[]`/`text[]` on PostgreSQL, so they go through `to_json(col)` first.
# A timestamp inside JSON is text: `cast(cast(x as timestamptz) at time zone 'UTC' as
# timestamp)` is UTC on both (a plain `cast(x as timestamp)` drops the offset on PostgreSQL
# and converts it on DuckDB).
PROOF_QUERIES = {
    "merged_pullrequests": """
select repository_uuid,
       count(*) as merged,
       min(created_on) as first_created_on,
       cast(date_trunc('week', min(created_on)) as date) as first_week,
       count(distinct merge_commit->>'hash') as merge_commits,
       count(distinct author->>'uuid') as authors,
       sum(json_array_length(to_json(reviewers))) as reviewers,
       extract(epoch from (max(updated_on) - min(created_on))) / 3600 as span_hours
from pullrequests
where state = 'MERGED'
group by repository_uuid
order by repository_uuid
""",
    "approvals": """
select repository_uuid,
       count(*) as approvals,
       count(distinct approval->'user'->>'uuid') as approvers,
       min(cast(cast(approval->>'date' as timestamptz) at time zone 'UTC' as timestamp)) as first_approval,
       max(event_time) as last_event_time
from pullrequest_activity
where kind = 'approval'
group by repository_uuid
order by repository_uuid
""",
}


def fail(message):
    print(f"warehouse: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------
# The tap's side: Singer messages.


class Run:
    """One run of the tap: per stream its SCHEMA, distinct keys, last record per key."""

    def __init__(self, path):
        self.path = path
        self.schemas, self.key_properties = {}, {}
        self.records = defaultdict(int)
        self.latest = defaultdict(dict)  # stream -> key -> the record last emitted
        self.activated = set()  # streams with an ACTIVATE_VERSION
        self.state = None
        with open(path) as lines:
            for line in lines:
                message = json.loads(line)
                kind, stream = message["type"], message.get("stream")
                if kind == "SCHEMA":
                    self.schemas[stream] = message["schema"]
                    self.key_properties[stream] = message["key_properties"]
                    self.latest[stream]  # a stream without records is still a stream
                elif kind == "RECORD":
                    record = message["record"]
                    self.records[stream] += 1
                    key = key_of(record, self.key_properties[stream])
                    self.latest[stream][key] = record
                elif kind == "ACTIVATE_VERSION":
                    self.activated.add(stream)
                elif kind == "STATE":
                    self.state = message["value"]

    def keys(self, stream):
        return set(self.latest.get(stream, {}))


def key_of(values, key_properties):
    """A key as one comparable string, the same from a record and from a database row."""
    return json.dumps([values.get(k) for k in key_properties])


def union_keys(runs, stream):
    keys = set()
    for run in runs:
        keys |= run.keys(stream)
    return keys


def latest_records(runs, stream):
    """The record a table should hold for each key: the last one emitted."""
    latest = {}
    for run in runs:
        latest.update(run.latest.get(stream, {}))
    return list(latest.values())


def catalog_streams(path):
    with open(path) as f:
        return json.load(f)["streams"]


def cmd_catalog(discovered_path, out_path):
    """The discovered catalog with every stream selected, for a direct run of the tap."""
    with open(discovered_path) as f:
        catalog = json.load(f)
    for stream in catalog["streams"]:
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry.setdefault("metadata", {})["selected"] = True
    with open(out_path, "w") as f:
        json.dump(catalog, f)


def cmd_records(run_path):
    """Prints what one run of the tap emitted, per stream."""
    run = Run(run_path)
    print(
        f"  the tap: {sum(run.records.values())} records in {len(run.records)} of {len(run.schemas)} streams: "
        + ", ".join(f"{s} {n}" for s, n in sorted(run.records.items()))
    )


def cmd_same_records(what, expected_path, actual_path):
    """Two runs of the tap emitted the same records (the same keys, as often) per stream."""
    expected, actual = Run(expected_path), Run(actual_path)
    streams = sorted(set(expected.schemas) | set(actual.schemas))
    differing = [
        f"{s} {expected.records.get(s, 0)}/{actual.records.get(s, 0)} records"
        for s in streams
        if expected.records.get(s, 0) != actual.records.get(s, 0) or expected.keys(s) != actual.keys(s)
    ]
    if differing or set(expected.schemas) != set(actual.schemas):
        fail(f"{what}: the tap's records differ from {expected_path}'s (expected/actual): {', '.join(differing) or 'the streams differ'}")
    print(f"  {what}: the same {sum(actual.records.values())} records as {expected_path.rsplit('/', 1)[-1]}")


def cmd_fewer(first_path, second_path, discovered_path):
    """The INCREMENTAL streams emitted fewer records in all the second time: it started from
    the stored state (per stream it may not hold: a new stream's window can be busier)."""
    first, second = Run(first_path), Run(second_path)
    incremental = [
        s["tap_stream_id"] for s in catalog_streams(discovered_path) if s.get("replication_method") == "INCREMENTAL"
    ]
    a = sum(first.records.get(s, 0) for s in incremental)
    b = sum(second.records.get(s, 0) for s in incremental)
    shown = ", ".join(f"{s} {first.records[s]} → {second.records.get(s, 0)}" for s in incremental if first.records.get(s))
    if not 0 < b < a:
        fail(f"the incremental streams emitted {b} records in the second run, {a} in the first: expected fewer ({shown})")
    print(f"  incremental streams, first run → second: {shown}")


def comparable_state(state):
    """A state with each stream's partitions in one order: the tap lists them in the order
    they finished (concurrently), which means nothing."""
    state = json.loads(json.dumps(state or {}))
    for bookmark in state.get("bookmarks", {}).values():
        if isinstance(bookmark, dict) and isinstance(bookmark.get("partitions"), list):
            bookmark["partitions"].sort(key=lambda p: json.dumps(p.get("context"), sort_keys=True))
    return state


def cmd_meltano_state(state_get_path, run_path, out_path=None):
    """The state Meltano stored is the tap's last STATE (the target passes it through)."""
    text = open(state_get_path).read()
    try:
        stored = json.loads(text[text.index("{") :])["singer_state"]
    except (ValueError, KeyError):
        fail(f"`meltano state get` printed no singer_state: {text.strip()[:300]}")
    expected = Run(run_path).state
    if not expected or not expected.get("bookmarks"):
        fail(f"{run_path}: the tap wrote no STATE with bookmarks")
    stored_bookmarks = comparable_state(stored).get("bookmarks", {})
    expected_bookmarks = comparable_state(expected).get("bookmarks", {})
    differing = sorted(
        s for s in set(stored_bookmarks) | set(expected_bookmarks) if stored_bookmarks.get(s) != expected_bookmarks.get(s)
    )
    if differing or comparable_state(stored) != comparable_state(expected):
        fail(f"Meltano stored a state that is not the tap's last STATE of {run_path}: bookmarks of {differing} differ")
    if out_path:
        with open(out_path, "w") as f:
            json.dump(stored, f)
    print(f"  the state Meltano stored is the tap's last STATE ({len(stored['bookmarks'])} bookmarks)")


# ---------------------------------------------------------------------------------------
# The database's side (run inside the target's virtualenv).


def cmd_dump(target, where, schema, catalog_path, out_path):
    """What one database holds, as JSON: per table its columns and their SQL types, and per
    row its key columns and `_sdc_batched_at`/`_sdc_deleted_at`/`_sdc_table_version`; then
    the proof queries' and the metric queries' results."""
    if target == "duckdb":
        import duckdb  # the target's own virtualenv has it

        conn = duckdb.connect(where, read_only=True)
        catalog = conn.execute("select current_database()").fetchone()[0]
        conn.execute(f'use "{catalog}"."{schema}"')
        columns_sql = (
            "select table_name, column_name, data_type from information_schema.columns "
            f"where table_catalog = '{catalog}' and table_schema = '{schema}' "
            "order by table_name, ordinal_position"
        )
        version = conn.execute("select version()").fetchone()[0]

        def query(sql):
            return conn.execute(sql).fetchall()

    elif target == "postgres":
        import psycopg  # the target's own virtualenv has it

        conn = psycopg.connect(where, autocommit=True)
        conn.execute(f'set search_path to "{schema}"')
        columns_sql = (
            "select table_name, column_name, udt_name from information_schema.columns "
            f"where table_schema = '{schema}' order by table_name, ordinal_position"
        )
        version = conn.execute("show server_version").fetchone()[0]

        def query(sql):
            return conn.execute(sql).fetchall()

    else:
        fail(f"unknown target {target}")

    tables = defaultdict(dict)
    for table, column, sql_type in query(columns_sql):
        tables[table][column] = sql_type.lower()
    dump = {"target": target, "version": version, "tables": {}, "proof": {}}
    keys = {s["tap_stream_id"]: s.get("key_properties", []) for s in catalog_streams(catalog_path)}
    for table, columns in tables.items():
        names = [c for c in keys.get(table, []) if c in columns]
        meta = [c for c in ("_sdc_batched_at", "_sdc_deleted_at", "_sdc_table_version") if c in columns]
        selected = ", ".join(f'"{c}"' for c in names + meta)
        rows = []
        for row in query(f'select {selected} from "{table}"'):
            values = dict(zip(names + meta, row))
            rows.append({"values": {c: plain(values[c]) for c in names}, **{c: plain(values[c]) for c in meta}})
        dump["tables"][table] = {"columns": columns, "rows": rows}
    for name, sql in PROOF_QUERIES.items():
        if {"pullrequests", "pullrequest_activity"} <= set(tables):
            dump["proof"][name] = [[plain(v) for v in row] for row in query(sql)]
    # The shipped metric queries, each file as it is (warehouse_metrics.py checks them).
    dump["metrics"] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        try:
            cursor = conn.execute(path.read_text())
            columns = [d[0] for d in cursor.description]
            rows = [[plain(v) for v in row] for row in cursor.fetchall()]
            dump["metrics"][path.stem] = {"columns": columns, "rows": rows}
        except Exception as e:  # noqa: BLE001 -- any database error is a finding to report
            dump["metrics"][path.stem] = {"error": " ".join(str(e).split())[:500]}
    with open(out_path, "w") as f:
        json.dump(dump, f)


def plain(value):
    """A database value as JSON: timestamps as naive ISO text, decimals as floats."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.loads(json.dumps(value, default=str))


def load_dump(path):
    with open(path) as f:
        return json.load(f)


def table_keys(table, key_properties, where=lambda row: True):
    return {key_of(row["values"], key_properties) for row in table["rows"] if where(row)}


# ---------------------------------------------------------------------------------------
# Comparisons.


def expected_family(prop):
    """The kind of SQL column a property of a stream's schema should land in."""
    types = prop.get("type", [])
    types = set([types] if isinstance(types, str) else types) - {"null"}
    if "object" in types:
        return "json"
    if "array" in types:
        return "array"
    if prop.get("format") == "date-time":
        return "timestamp"
    if types == {"integer"}:
        return "integer"
    if types <= {"integer", "number"} and types:
        return "number"
    if types == {"boolean"}:
        return "boolean"
    return "string"


SQL_FAMILIES = {
    "duckdb": {
        "json": {"json"},
        "array": {"json"},
        "timestamp": {"timestamp"},
        "integer": {"tinyint", "smallint", "integer", "bigint"},  # not HUGEINT: see schema.rs
        "number": {"double", "float"},
        "boolean": {"boolean"},
        "string": {"varchar"},
    },
    "postgres": {
        "json": {"jsonb", "json"},
        "array": {"_jsonb", "_text", "jsonb"},  # arrays of objects / of strings
        "timestamp": {"timestamp"},
        "integer": {"int2", "int4", "int8"},
        "number": {"float8", "numeric"},
        "boolean": {"bool"},
        "string": {"text", "varchar"},
    },
}


def cmd_loaded(target, dump_path, catalog_path, run_paths):
    """Each stream's table holds exactly the distinct keys the runs emitted, in sensible types."""
    dump, runs = load_dump(dump_path), [Run(p) for p in run_paths]
    families = SQL_FAMILIES[target]
    problems, mapping, rows_total, checked = [], defaultdict(int), 0, 0
    for stream in (s["tap_stream_id"] for s in catalog_streams(catalog_path)):
        emitted = [r for r in runs if stream in r.schemas]
        if not emitted:
            problems.append(f"stream {stream}: the tap sent no SCHEMA for it (is it selected?)")
            continue
        key_properties, schema = emitted[-1].key_properties[stream], emitted[-1].schemas[stream]
        expected = union_keys(runs, stream)
        table = dump["tables"].get(stream)
        if table is None:
            if expected:
                problems.append(f"stream {stream}: no table {stream} in {target}, expected {len(expected)} rows")
            continue
        checked += 1
        found = table_keys(table, key_properties)
        rows = len(table["rows"])
        rows_total += rows
        if rows != len(expected) or found != expected:
            missing, extra = expected - found, found - expected
            example = next(iter(missing or extra), "")
            problems.append(
                f"stream {stream}: table {stream} in {target} has {rows} rows ({len(found)} distinct keys), "
                f"expected {len(expected)} distinct keys {key_properties}: {len(missing)} missing, "
                f"{len(extra)} unexpected, e.g. {example}"
            )
        properties = schema.get("properties", {})
        for column, sql_type in table["columns"].items():
            if column.startswith("_sdc_"):
                continue
            if column not in properties:
                problems.append(f"stream {stream}: table {stream} in {target} has column {column} ({sql_type}), not in the stream's schema")
        for name, prop in properties.items():
            sql_type = table["columns"].get(name)
            family = expected_family(prop)
            if sql_type is None:
                problems.append(f"stream {stream}: table {stream} in {target} has no column {name}")
            elif sql_type not in families[family]:
                problems.append(
                    f"stream {stream}: column {stream}.{name} in {target} is {sql_type}, expected {family} "
                    f"({' or '.join(sorted(families[family]))})"
                )
            else:
                mapping[(family, sql_type)] += 1
    if problems:
        for problem in problems:
            print(f"warehouse: FAILED: {problem}", file=sys.stderr)
        raise SystemExit(1)
    kinds = ", ".join(f"{family} → {sql} ×{n}" for (family, sql), n in sorted(mapping.items()))
    print(f"  {target} ({dump['version']}): {checked} tables, {rows_total} rows = the distinct keys emitted; columns: {kinds}")


def cmd_changed(target, before_path, after_path, run_path):
    """The rows a run inserted or updated (a new `_sdc_batched_at`) are exactly its records."""
    before, after, run = load_dump(before_path), load_dump(after_path), Run(run_path)
    problems, touched_total = [], 0
    for stream, key_properties in run.key_properties.items():
        table = after["tables"].get(stream)
        if table is None:
            continue
        old = {
            key_of(row["values"], key_properties): row.get("_sdc_batched_at")
            for row in before["tables"].get(stream, {"rows": []})["rows"]
        }
        touched = {
            key_of(row["values"], key_properties)
            for row in table["rows"]
            if "_sdc_batched_at" not in row or old.get(key_of(row["values"], key_properties)) != row["_sdc_batched_at"]
        }
        expected = run.keys(stream)
        touched_total += len(touched)
        if touched != expected:
            problems.append(
                f"stream {stream}: the run wrote {len(touched)} rows of table {stream} in {target}, "
                f"expected the {len(expected)} distinct keys it extracted"
            )
    if problems:
        for problem in problems:
            print(f"warehouse: FAILED: {problem}", file=sys.stderr)
        raise SystemExit(1)
    print(f"  {target}: the run wrote {touched_total} rows, exactly the distinct keys it extracted from the stored state")


def cmd_activated(target, before_path, after_path, run_path, catalog_path, behaviour):
    """What ACTIVATE_VERSION did to the rows a FULL_TABLE stream no longer sends."""
    before, after, run = load_dump(before_path), load_dump(after_path), Run(run_path)
    full_table = {s["tap_stream_id"] for s in catalog_streams(catalog_path) if s.get("replication_method") == "FULL_TABLE"}
    problems, vanished_total, lines, unactivated = [], 0, [], []
    for stream in sorted(s for s in run.key_properties if s in full_table):
        key_properties = run.key_properties[stream]
        table = after["tables"].get(stream, {"rows": []})
        sent = run.keys(stream)
        old = table_keys(before["tables"].get(stream, {"rows": []}), key_properties)
        vanished = old - sent
        live = table_keys(table, key_properties, lambda row: row.get("_sdc_deleted_at") is None)
        everything = table_keys(table, key_properties)
        if stream not in run.activated:
            # The tap sends none for a stream with a skipped partition (a 403, a removed
            # API): its rows must then stay as they were.
            was_live = table_keys(before["tables"].get(stream, {"rows": []}), key_properties, lambda row: row.get("_sdc_deleted_at") is None)
            want_live, want_all = was_live | sent, old | sent
            unactivated.append(stream)
        elif behaviour == "soft-delete":
            want_live, want_all = sent, old | sent
        elif behaviour == "hard-delete":
            want_live, want_all = sent, sent
        else:  # ignore
            want_live, want_all = old | sent, old | sent
        if stream in run.activated:
            vanished_total += len(vanished)
        if live != want_live or everything != want_all:
            problems.append(
                f"stream {stream}: table {stream} in {target} has {len(everything)} rows, {len(live)} not deleted; "
                f"expected {len(want_all)} rows, {len(want_live)} not deleted ({behaviour}: "
                f"{len(sent)} sent, {len(vanished)} vanished)"
            )
        if vanished and stream in run.activated:
            lines.append(f"{stream} {len(vanished)}")
    if not vanished_total:
        problems.append("no FULL_TABLE row vanished between the runs: the activate_version check proves nothing")
    if problems:
        for problem in problems:
            print(f"warehouse: FAILED: {problem}", file=sys.stderr)
        raise SystemExit(1)
    done = {
        "soft-delete": "marked with _sdc_deleted_at",
        "hard-delete": "deleted",
        "ignore": "kept (ACTIVATE_VERSION is ignored)",
    }[behaviour]
    print(f"  {target}: vanished rows ({', '.join(lines)}) {done}; every row sent is live")
    if unactivated:
        print(f"    no ACTIVATE_VERSION (a partition was skipped), rows kept as they were: {', '.join(unactivated)}")


# ---------------------------------------------------------------------------------------
# The proof queries, against figures computed here from the tap's records.


def utc(text):
    """An RFC 3339 timestamp as naive UTC ISO text (how both databases return it)."""
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()


def expected_proof(runs):
    merged = defaultdict(list)
    for pr in latest_records(runs, "pullrequests"):
        if pr.get("state") == "MERGED":
            merged[pr["repository_uuid"]].append(pr)
    rows = []
    for repo in sorted(merged):
        prs = merged[repo]
        created = [dt.datetime.fromisoformat(utc(p["created_on"])) for p in prs]
        updated = [dt.datetime.fromisoformat(utc(p["updated_on"])) for p in prs]
        first = min(created)
        rows.append([
            repo,
            len(prs),
            first.isoformat(),
            (first.date() - dt.timedelta(days=first.weekday())).isoformat(),
            len({(p.get("merge_commit") or {}).get("hash") for p in prs} - {None}),
            len({(p.get("author") or {}).get("uuid") for p in prs} - {None}),
            sum(len(p.get("reviewers") or []) for p in prs),
            (max(updated) - first).total_seconds() / 3600,
        ])
    approvals = defaultdict(list)
    for item in latest_records(runs, "pullrequest_activity"):
        if item.get("kind") == "approval":
            approvals[item["repository_uuid"]].append(item)
    approval_rows = []
    for repo in sorted(approvals):
        items = approvals[repo]
        approval_rows.append([
            repo,
            len(items),
            len({((i.get("approval") or {}).get("user") or {}).get("uuid") for i in items} - {None}),
            min(utc(i["approval"]["date"]) for i in items),
            max(utc(i["event_time"]) for i in items),
        ])
    return {"merged_pullrequests": rows, "approvals": approval_rows}


def same_row(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if isinstance(w, float) or isinstance(g, float):
            if g is None or abs(float(g) - float(w)) > 1e-6:
                return False
        elif g != w:
            return False
    return True


def cmd_proof(dump_path, run_paths):
    """The proof queries' results on one database are the figures the tap's records give."""
    dump, runs = load_dump(dump_path), [Run(p) for p in run_paths]
    for name, want in expected_proof(runs).items():
        if not want:
            fail(f"proof query {name}: the tap's records give no rows to compare with")
        got = dump["proof"].get(name)
        if got is None:
            fail(f"proof query {name}: not run on {dump['target']} (tables missing)")
        for g, w in zip(got, want):
            if not same_row(g, w):
                fail(f"proof query {name} on {dump['target']}: row {g} differs from the tap's figures {w}")
        if len(got) != len(want):
            fail(f"proof query {name} on {dump['target']}: {len(got)} rows, the tap's records give {len(want)}")
        print(f"  proof query {name} on {dump['target']}: {len(want)} rows, as computed from the tap's records, e.g.")
        print(f"    {got[0]}")


# ---------------------------------------------------------------------------------------
# Timestamps with offsets (Bitbucket sends commit dates in the author's zone): a small stream
# through each target, read back.

OFFSETS = [
    "2025-01-01T10:00:00+02:00",
    "2025-01-01T10:00:00.123456+00:00",
    "2025-01-01T10:00:00Z",
    "2025-01-01T10:00:00-05:30",
    "2024-12-31T23:30:00.5-01:00",
]
OFFSETS_SCHEMA = "offset_probe"


def cmd_offsets_stream(out_path):
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 0, "maximum": 100},
            "at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    with open(out_path, "w") as f:
        print(json.dumps({"type": "SCHEMA", "stream": "offsets", "schema": schema, "key_properties": ["id"]}), file=f)
        for i, at in enumerate(OFFSETS):
            print(json.dumps({"type": "RECORD", "stream": "offsets", "record": {"id": i, "at": at}}), file=f)
        print(json.dumps({"type": "STATE", "value": {}}), file=f)


def cmd_offsets(target, where):
    if target == "duckdb":
        import duckdb

        conn = duckdb.connect(where, read_only=True)
        rows = conn.execute(f'select id, at from "{OFFSETS_SCHEMA}".offsets order by id').fetchall()
    else:
        import psycopg

        with psycopg.connect(where) as conn:
            rows = conn.execute(f'select id, at from "{OFFSETS_SCHEMA}".offsets order by id').fetchall()
    got = [plain(at) for _, at in rows]
    want = [utc(at) for at in OFFSETS]
    if got != want:
        fail(f"timestamps with offsets in {target}: {got}, expected them in UTC: {want}")
    print(f"  {target}: {len(got)} timestamps with offsets (+02:00, Z, -05:30, ...) stored as their UTC time")


def main(argv):
    if not argv:
        fail(__doc__)
    cmd, args = argv[0], argv[1:]
    commands = {
        "catalog": lambda: cmd_catalog(*args),
        "records": lambda: cmd_records(*args),
        "same-records": lambda: cmd_same_records(*args),
        "fewer": lambda: cmd_fewer(*args),
        "meltano-state": lambda: cmd_meltano_state(*args),
        "dump": lambda: cmd_dump(*args),
        "loaded": lambda: cmd_loaded(args[0], args[1], args[2], args[3:]),
        "changed": lambda: cmd_changed(*args),
        "activated": lambda: cmd_activated(*args),
        "proof": lambda: cmd_proof(args[0], args[1:]),
        "offsets-stream": lambda: cmd_offsets_stream(*args),
        "offsets": lambda: cmd_offsets(*args),
    }
    if cmd not in commands:
        fail(f"unknown command {cmd}")
    commands[cmd]()


if __name__ == "__main__":
    main(sys.argv[1:])
