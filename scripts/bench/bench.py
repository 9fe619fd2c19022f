"""The benchmark behind scripts/bench.sh: runs tap-bitbucket (and a Singer SDK tap) against the
bundled simulator and prints what a sync costs.

Run it through scripts/bench.sh, which builds the release binaries and the SDK virtualenv
first. Every figure comes from one process per sync: user and system CPU time from wait4(2),
peak RSS from the process's own high-water mark (VmHWM in /proc/<pid>/status, sampled until
it exits; Linux only), and a wall clock; requests come from the simulator's request log
(`--verbose`). Stdout of each sync is counted, never stored.

Not wait4's ru_maxrss for RSS: the kernel carries a process's peak across exec, and a child
of this script starts as a copy of it (Python spawns with vfork), so ru_maxrss reports at
least this script's own peak at the time (about 20 MiB after the first sync has been read).

Tables:
1. requests per stream next to the API minimum (spec §6: per partition max(1, ⌈records ÷
   largest page⌉), plus the listing requests);
2. CPU per record, records per second and peak RSS at about 10k, 100k and 1M records, with no
   latency;
3. wall time with latency per request over 32 repositories at several `max_concurrency`;
4. the same sync through the Singer SDK tap (scripts/bench/tap_bench_sdk.py): CPU per record
   and peak RSS, and the ratios;
5. the engineering-metrics streams (pipelines, deployments, pull-request children, …): requests
   per stream against the API minimum, the follow-up calls the spec allows (one per changed pull
   request per child stream, one per completed pipeline for its steps) counted apart, then a
   rerun where nothing changed, against what spec §6 allows it.

Environment knobs (defaults in brackets): BENCH_SIZES [10k,100k,1m], BENCH_SDK_SIZES [10k],
BENCH_LATENCY_MS [50], BENCH_CONCURRENCY [1,4,8,16], BENCH_RUNS [3] (syncs per size but
1m, the median by CPU kept), BENCH_METRICS [1] (0 skips table 5), BENCH_OUT [target/bench], BENCH_TAP
[target/release/tap-bitbucket] (another build of the tap, to compare before and after a change).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# scripts/bench.sh passes cargo's target directory (CARGO_TARGET_DIR may move it).
RELEASE = Path(os.environ.get("BENCH_TARGET_DIR", ROOT / "target")) / "release"
TAP = Path(os.environ.get("BENCH_TAP", RELEASE / "tap-bitbucket"))
SIM = RELEASE / "bitbucket-simulator"
SDK_PYTHON = ROOT / "target" / "bench-venv" / "bin" / "python"
SDK_TAP = ROOT / "scripts" / "bench" / "tap_bench_sdk.py"
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "target" / "bench"))
TOKEN = "demo-token"

# Largest page sizes the API accepts (spec §6).
PAGE = {"pullrequests": 50, "repositories": 100}

# name -> (workspaces, repositories per workspace, pull requests per repository)
SIZES = {
    "10k": (1, 10, 1_000),
    "100k": (1, 20, 5_000),
    "1m": (4, 25, 10_000),
}
LATENCY_SHAPE = (1, 32, 250)
METRICS_SHAPE = (1, 10, 300)
# How long the reader of a sync's stdout waits before reading (see `measure`); left out of
# records per second. Not used with latency, where wall time is the figure.
HOLD_SECS = 1.0


@dataclass
class Result:
    """One measured sync."""

    label: str
    user: float
    sys: float
    wall: float
    max_rss_kb: int
    records: dict[str, int]
    requests: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def total_records(self) -> int:
        return sum(self.records.values())


class Simulator:
    """The release simulator binary, on a free port, with a final dataset in the past: the
    anchor 31 days back and the clock 30 days on, so every pull request exists."""

    def __init__(self, shape: tuple[int, int, int], name: str, latency_ms: int = 0):
        self.shape = shape
        self.log_path = OUT / f"simulator-{name}.log"
        anchor = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
        w, r, p = shape
        self.args = [
            str(SIM), "--port", "0", "--verbose",
            "--workspaces", str(w), "--repos-per-workspace", str(r), "--prs-per-repo", str(p),
            "--anchor", anchor, "--clock-offset-hours", "720",
        ]
        if latency_ms:
            self.args += ["--latency-ms", str(latency_ms)]

    def __enter__(self) -> "Simulator":
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.proc.kill()
            sys.exit(f"the simulator did not start: {line!r}; see {self.log_path}")
        self.api_url = match.group(1)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.log.close()

    def workspaces(self) -> list[str]:
        return [f"ws-{w:03}" for w in range(1, self.shape[0] + 1)]

    def mark(self) -> int:
        """The request log's length, to count the requests of the next sync only."""
        self.log.flush()
        return sum(1 for _ in open(self.log_path))

    def requests_since(self, mark: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        with open(self.log_path) as log:
            for i, line in enumerate(log):
                if i < mark or not line.startswith("GET "):
                    continue
                kind = classify(line.split()[1])
                counts[kind] = counts.get(kind, 0) + 1
        return counts


def classify(target: str) -> str:
    """Which stream a request served, by path (and `sort`, which only the stream sends)."""
    path, _, query = target.partition("?")
    parts = path.strip("/").split("/")[1:]  # without "2.0"
    if len(parts) == 4 and parts[0] == "repositories" and parts[3] == "pullrequests":
        return "pullrequests"
    if len(parts) == 2 and parts[0] == "repositories":
        return "repositories" if "sort=updated_on" in query else "listing"
    if parts[:1] in (["workspaces"], ["user"]):
        return "listing"
    return "other"


def minimum_requests(shape: tuple[int, int, int], with_listing: bool) -> dict[str, int]:
    """Spec §6: per partition max(1, ⌈records ÷ page⌉), plus the listing requests (a
    configured workspace is fetched once, its repositories listed 100 per page)."""
    w, r, p = shape
    out = {
        "repositories": w * max(1, math.ceil(r / PAGE["repositories"])),
        "pullrequests": w * r * max(1, math.ceil(p / PAGE["pullrequests"])),
    }
    if with_listing:
        out["listing"] = w + w * math.ceil(r / PAGE["repositories"])
    return out


def count_records(stream, streams: tuple[str, ...]) -> dict[str, int]:
    """Counts RECORD lines per stream in a byte stream, 1 MiB at a time (C-speed
    `bytes.count`; a match cut by a chunk boundary is found in the carried tail)."""
    needles = {s: f'{{"type":"RECORD","stream":"{s}"'.encode() for s in streams}
    keep = max(len(n) for n in needles.values()) - 1
    counts = dict.fromkeys(streams, 0)
    tail = b""
    while chunk := stream.read(1 << 20):
        data = tail + chunk
        for s, needle in needles.items():
            counts[s] += data.count(needle) - tail.count(needle)
        tail = data[-keep:]
    return counts


class PeakRss:
    """Samples a running process's VmHWM (its peak RSS since exec) until it exits. Every
    5 ms: the mark only rises, so the last sample is the peak but for the last few ms."""

    def __init__(self, pid: int):
        self.path = f"/proc/{pid}/status"
        self.peak_kb = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                with open(self.path) as status:
                    line = next((l for l in status if l.startswith("VmHWM:")), None)
            except OSError:
                return
            if line is None:  # a zombie: the address space is gone
                return
            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(0.005)

    def result(self) -> int:
        self.thread.join()
        return self.peak_kb


def measure(label: str, argv: list[str], sim: Simulator, hold: float = HOLD_SECS) -> Result:
    """Runs one sync, counting its records, and measures its CPU time and peak RSS."""
    mark = sim.mark()
    err_path = OUT / f"{label}.stderr"
    with open(err_path, "w") as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
        peak = PeakRss(proc.pid)
        # Read nothing at first, so the tap's output buffers fill in every run whatever its
        # size: peak RSS is then the bound (pages in flight and buffered), not a matter of
        # how fast this reader happened to keep up.
        time.sleep(hold)
        records = count_records(proc.stdout, ("repositories", "pullrequests"))
        peak_kb = peak.result()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started - hold
    proc.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(0.2)  # let the simulator log its last lines
    result = Result(
        label=label,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        wall=wall,
        max_rss_kb=peak_kb,
        records=records,
        requests=sim.requests_since(mark),
        exit_code=proc.returncode,
    )
    if proc.returncode != 0:
        sys.exit(f"{label}: exit {proc.returncode}; see {err_path}")
    print(
        f"  {label}: {result.total_records} records, {result.cpu:.2f} s CPU, {result.wall:.2f} s wall, "
        f"{result.max_rss_kb / 1024:.1f} MiB peak RSS",
        flush=True,
    )
    return result


def catalog_path(streams: tuple[str, ...] = ("repositories", "pullrequests"), name: str = "catalog.json") -> Path:
    """tap-bitbucket's own catalog with only `streams` selected."""
    discovered = subprocess.run(
        [str(TAP), "--config", str(write_json("discover-config.json", {})), "--discover"],
        check=True, capture_output=True, text=True,
    ).stdout
    catalog = json.loads(discovered)
    for stream in catalog["streams"]:
        top = next(m for m in stream["metadata"] if m["breadcrumb"] == [])
        top["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return write_json(name, catalog)


def write_json(name: str, value) -> Path:
    path = OUT / name
    path.write_text(json.dumps(value))
    return path


def rust_sync(label: str, sim: Simulator, catalog: Path, concurrency: int = 4, hold: float = HOLD_SECS) -> Result:
    config = write_json(f"{label}-config.json", {
        "api_url": sim.api_url,
        "access_token": TOKEN,
        "workspaces": sim.workspaces(),
        "requests_per_hour": 0,
        "max_concurrency": concurrency,
    })
    result = measure(label, [str(TAP), "--config", str(config), "--catalog", str(catalog)], sim, hold)
    check_complete(label, result, sim.shape)
    return result


def check_complete(label: str, result: Result, shape: tuple[int, int, int]) -> None:
    """Every repository and pull request of the dataset arrived: the release-profile run at
    100k and 1M records of what `cargo test` checks at 5k in debug (tests/it/large.rs, which
    also checks each key arrives exactly once and bookmarks never go back)."""
    w, r, p = shape
    expected = {"repositories": w * r, "pullrequests": w * r * p}
    if result.records != expected:
        sys.exit(f"{label}: records {result.records}, expected {expected}")


def sdk_sync(label: str, sim: Simulator) -> Result:
    config = write_json(f"{label}-config.json", {
        "api_url": sim.api_url, "access_token": TOKEN, "workspaces": sim.workspaces(),
    })
    return measure(label, [str(SDK_PYTHON), str(SDK_TAP), "--config", str(config)], sim)


# The engineering-metrics streams, with the listings they share.
METRICS_STREAMS = (
    "pullrequests", "pullrequest_activity", "pullrequest_comments", "pullrequest_commits",
    "pullrequest_diffstat", "pullrequest_statuses", "pullrequest_tasks", "branches", "tags",
    "environments", "pipelines", "pipeline_steps", "deployments",
)
# Listing endpoints: stream (whose records count) -> largest page.
LISTING_PAGE = {
    "pullrequests": 50, "pullrequest_activity": 50, "branches": 100, "tags": 100,
    "environments": 100, "pipelines": 100, "deployments": 100,
}
# Follow-up endpoints: stream -> largest page, per parent.
FOLLOW_UP_PAGE = {
    "pullrequest_commits": 100, "pullrequest_diffstat": 500, "pullrequest_statuses": 100,
    "pullrequest_tasks": 100, "pipeline_steps": 100,
}


def metrics_kind(target: str) -> str:
    """Which endpoint of the metrics streams a request served."""
    path = target.partition("?")[0]
    parts = path.strip("/").split("/")[1:]
    if len(parts) < 4 or parts[0] != "repositories":
        return "listing" if parts[:1] in (["workspaces"], ["user"], ["repositories"]) else "other"
    tail = parts[3:]
    if tail[0] == "diffstat":
        return "pullrequest_diffstat (after the redirect)"
    kinds = {
        ("pullrequests",): "pullrequests", ("pullrequests", "activity"): "pullrequest_activity",
        ("refs", "branches"): "branches", ("refs", "tags"): "tags", ("environments",): "environments",
        ("pipelines",): "pipelines", ("deployments",): "deployments",
    }
    if tuple(tail) in kinds:
        return kinds[tuple(tail)]
    if tail[0] == "pullrequests" and len(tail) == 3:
        return f"pullrequest_{tail[2]}" if tail[2] != "commits" else "pullrequest_commits"
    if tail[0] == "pipelines" and len(tail) == 3 and tail[2] == "steps":
        return "pipeline_steps"
    if tail[0] == "pipelines" and len(tail) == 2:
        return "open pipeline re-read"
    return "other"


def metrics_sync(label: str, sim: Simulator, catalog: Path, state: dict | None = None) -> tuple[list[dict], dict[str, int], dict]:
    """One sync of the metrics streams: its records (parsed), requests per endpoint kind and
    last STATE."""
    mark = sim.mark()
    config = write_json(f"{label}-config.json", {
        "api_url": sim.api_url, "access_token": TOKEN, "workspaces": sim.workspaces(),
        "requests_per_hour": 0,
    })
    argv = [str(TAP), "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        argv += ["--state", str(write_json(f"{label}-state.json", state))]
    with open(OUT / f"{label}.stderr", "w") as err:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, check=False)
    if out.returncode != 0:
        sys.exit(f"{label}: exit {out.returncode}; see {OUT / (label + '.stderr')}")
    time.sleep(0.2)
    records, last_state = [], {}
    for line in out.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.append(message)
        elif message["type"] == "STATE":
            last_state = message["value"]
    counts: dict[str, int] = {}
    with open(sim.log_path) as log:
        for i, line in enumerate(log):
            if i >= mark and line.startswith("GET "):
                kind = metrics_kind(line.split()[1])
                counts[kind] = counts.get(kind, 0) + 1
    return records, counts, last_state


def metrics_section(lines: list[str]) -> None:
    """Table 5: requests of the metrics streams against the API minimum, and a rerun where
    nothing changed."""
    catalog = catalog_path(METRICS_STREAMS, "metrics-catalog.json")
    with Simulator(METRICS_SHAPE, "metrics") as sim:
        w, r, p = METRICS_SHAPE
        print(f"== metrics streams: {w} workspace × {r} repositories × {p} pull requests", flush=True)
        records, requests, state = metrics_sync("metrics-full", sim, catalog)
        per_partition: dict[tuple[str, str], int] = {}
        per_parent: dict[tuple[str, str], int] = {}
        totals: dict[str, int] = {}
        for m in records:
            rec, stream = m["record"], m["stream"]
            totals[stream] = totals.get(stream, 0) + 1
            repo = f"{rec.get('workspace_slug')}/{rec.get('repository_slug')}"
            per_partition[(stream, repo)] = per_partition.get((stream, repo), 0) + 1
            parent = rec.get("pullrequest_id", rec.get("pipeline_uuid"))
            if stream in FOLLOW_UP_PAGE:
                per_parent[(stream, f"{repo}#{parent}")] = per_parent.get((stream, f"{repo}#{parent}"), 0) + 1
        repos = [f"ws-001/repo-{i:04}" for i in range(1, r + 1)]
        # Parents a follow-up is read for: every pull request (a first sync), every completed pipeline.
        prs = {f"{x['record']['workspace_slug']}/{x['record']['repository_slug']}#{x['record']['id']}"
               for x in records if x["stream"] == "pullrequests"}
        completed = {f"{x['record']['workspace_slug']}/{x['record']['repository_slug']}#{x['record']['uuid']}"
                     for x in records if x["stream"] == "pipelines" and x["record"].get("state", {}).get("name") == "COMPLETED"}
        lines += ["", f"Engineering-metrics streams, first sync ({w} workspace × {r} repositories × {p} pull requests; "
                  "max_concurrency 4, no latency). Listing requests against the API minimum (per repository "
                  "max(1, ⌈records ÷ largest page⌉); `pullrequest_comments` has no request of its own):", "",
                  "| endpoint | records | requests | API minimum | ratio |", "|---|---:|---:|---:|---:|"]
        all_got = all_low = 0
        for stream, page in LISTING_PAGE.items():
            low = sum(max(1, math.ceil(per_partition.get((stream, repo), 0) / page)) for repo in repos)
            got = requests.get(stream, 0)
            all_got, all_low = all_got + got, all_low + low
            lines.append(f"| {stream} | {totals.get(stream, 0)} | {got} | {low} | {got / low:.3f} |")
        lines.append(f"| **listings** | | {all_got} | {all_low} | **{all_got / all_low:.3f}** |")
        lines += ["", "Follow-up calls the spec allows, per parent: one request (plus pages) per pull request per "
                  "child stream, and per completed pipeline for its steps; the diffstat's redirect is a second request:", "",
                  "| stream | records | parents | requests | allowed minimum | ratio |", "|---|---:|---:|---:|---:|---:|"]
        for stream, page in FOLLOW_UP_PAGE.items():
            parents = completed if stream == "pipeline_steps" else {f"{x}" for x in prs}
            low = 0
            for parent in parents:
                n = per_parent.get((stream, parent), 0)
                low += max(1, math.ceil(n / page))
            got = requests.get(stream, 0)
            lines.append(f"| {stream} | {totals.get(stream, 0)} | {len(parents)} | {got} | {low} | {got / max(low, 1):.3f} |")
        redirects = requests.get("pullrequest_diffstat (after the redirect)", 0)
        lines.append(f"| diffstat redirects (`302` → `/diffstat/{{spec}}`) | | | {redirects} | {len(prs)} | {redirects / max(len(prs), 1):.3f} |")
        lines.append(f"| comments (from the activity feed) | {totals.get('pullrequest_comments', 0)} | | 0 | 0 | – |")
        total_records = sum(totals.values())
        total_requests = sum(requests.values())
        lines += ["", f"All: {total_records} records in {total_requests} requests ({total_requests / total_records:.4f} requests per record)."]

        again_records, again, _ = metrics_sync("metrics-rerun", sim, catalog, state)
        resent: dict[str, int] = {}
        for m in again_records:
            resent[m["stream"]] = resent.get(m["stream"], 0) + 1
        open_pipelines = sum(len(p.get("open", [])) for p in state.get("bookmarks", {}).get("pipelines", {}).get("partitions", []))
        lines += ["", "Rerun where nothing changed, against spec §6 (per repository one request per keyset or newest-first "
                  "listing, the pages of full-table streams and `deployments`, the children of the pull requests at the "
                  "inclusive boundary, one request per open pipeline):", "",
                  "| endpoint | requests | repositories | per repository |", "|---|---:|---:|---:|"]
        for kind, n in sorted(again.items()):
            lines.append(f"| {kind} | {n} | {r} | {n / r:.2f} |")
        lines.append(f"| (open pipelines followed in the state) | {open_pipelines} | | |")
        lines += ["", "Records the rerun sent again (the inclusive boundary; full-table streams whole):", "",
                  "| stream | first sync | rerun |", "|---|---:|---:|"]
        for stream in METRICS_STREAMS:
            lines.append(f"| {stream} | {totals.get(stream, 0)} | {resent.get(stream, 0)} |")


def machine() -> str:
    model = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, {platform.system()} {platform.release()}"


def median_run(results: list[Result]) -> Result:
    """The run with the median CPU time: a sync of a few seconds on a shared machine moves by
    ±15% from one run to the next."""
    return sorted(results, key=lambda r: r.cpu)[len(results) // 2]


def us_per_record(r: Result) -> float:
    return r.cpu / r.total_records * 1e6


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [s for s in os.environ.get("BENCH_SIZES", "10k,100k,1m").split(",") if s]
    sdk_sizes = [s for s in os.environ.get("BENCH_SDK_SIZES", "10k").split(",") if s]
    latency_ms = int(os.environ.get("BENCH_LATENCY_MS", "50"))
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,4,8,16").split(",") if c]
    runs = max(1, int(os.environ.get("BENCH_RUNS", "3")))
    catalog = catalog_path()
    version = subprocess.run([str(TAP), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# {version}; {machine()}", flush=True)

    rust: dict[str, Result] = {}
    sdk: dict[str, Result] = {}
    shapes = {}
    for size in sizes:
        shape = SIZES[size]
        shapes[size] = shape
        with Simulator(shape, size) as sim:
            print(f"== {size}: {shape[0]} workspace(s) × {shape[1]} repositories × {shape[2]} pull requests", flush=True)
            repeat = runs if size != "1m" else 1
            rust[size] = median_run([rust_sync(f"rust-{size}", sim, catalog) for _ in range(repeat)])
            if size in sdk_sizes:
                sdk[size] = median_run([sdk_sync(f"sdk-{size}", sim) for _ in range(repeat)])

    latency: dict[int, Result] = {}
    if latency_ms and concurrencies:
        with Simulator(LATENCY_SHAPE, "latency", latency_ms=latency_ms) as sim:
            print(f"== {latency_ms} ms per request, {LATENCY_SHAPE[1]} repositories × {LATENCY_SHAPE[2]} pull requests", flush=True)
            for c in concurrencies:
                latency[c] = rust_sync(f"latency-c{c}", sim, catalog, concurrency=c, hold=0)

    lines: list[str] = [f"Machine: {machine()}. {version}.", ""]
    if rust:
        lines += ["Requests against the API minimum (max_concurrency 4, no latency):", "",
                  "| sync | stream | records | requests | API minimum | ratio | requests/record |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for size, r in rust.items():
            minimum = minimum_requests(shapes[size], with_listing=True)
            rows = [(s, r.records.get(s, 0)) for s in ("repositories", "pullrequests")] + [("listing", 0)]
            for stream, n in rows:
                got, low = r.requests.get(stream, 0), minimum.get(stream, 0)
                lines.append(
                    f"| tap-bitbucket {size} | {stream} | {n} | {got} | {low} | {got / low:.3f} | "
                    + (f"{got / n:.4f} |" if n else "– |")
                )
            total, low = sum(r.requests.values()), sum(minimum.values())
            lines.append(f"| tap-bitbucket {size} | **all** | {r.total_records} | {total} | {low} | **{total / low:.3f}** | {total / r.total_records:.4f} |")
        for size, r in sdk.items():
            minimum = minimum_requests(shapes[size], with_listing=False)
            total, low = sum(r.requests.values()), sum(minimum.values())
            lines.append(f"| SDK tap {size} | **all** | {r.total_records} | {total} | {low} (no listing) | {total / low:.3f} | {total / r.total_records:.4f} |")
        lines += ["", "Cost with no latency (CPU = user + sys of the tap process; wall time without the reader's "
                  f"{HOLD_SECS:g} s hold at the start, with the simulator sharing the cores; the median of {runs} "
                  "runs by CPU, 1m: one run):", "",
                  "| sync | records | CPU s | µs CPU/record | wall s | records/s | peak RSS MiB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, group in (("tap-bitbucket", rust), ("SDK tap", sdk)):
            for size, r in group.items():
                lines.append(
                    f"| {name} {size} | {r.total_records} | {r.cpu:.2f} | {us_per_record(r):.1f} | {r.wall:.2f} | "
                    f"{r.total_records / r.wall:,.0f} | {r.max_rss_kb / 1024:.1f} |"
                )
        small, large = sizes[0], sizes[-1]
        if small != large:
            lines += ["", f"Peak RSS {large} ÷ {small}: **{rust[large].max_rss_kb / rust[small].max_rss_kb:.2f}×** (spec: ≤ 1.10×)."]
        for size, r in sdk.items():
            ours = rust[size]
            lines += [
                "",
                f"SDK ÷ tap-bitbucket at {size}: CPU per record **{us_per_record(r) / us_per_record(ours):.1f}×** "
                f"(spec: ≥ 20×), peak RSS {r.max_rss_kb / ours.max_rss_kb:.1f}×.",
            ]
    if latency:
        base = latency[concurrencies[0]].wall
        lines += ["", f"Wall time with {latency_ms} ms per request, {LATENCY_SHAPE[1]} repositories × {LATENCY_SHAPE[2]} pull requests:", "",
                  "| max_concurrency | records | requests | wall s | speed-up |", "|---:|---:|---:|---:|---:|"]
        for c, r in latency.items():
            lines.append(f"| {c} | {r.total_records} | {sum(r.requests.values())} | {r.wall:.2f} | {base / r.wall:.1f}× |")
    if os.environ.get("BENCH_METRICS", "1") != "0":
        metrics_section(lines)
    report = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(report)
    (OUT / "results.json").write_text(json.dumps(
        {k: [vars(r) for r in g.values()] for k, g in (("rust", rust), ("sdk", sdk), ("latency", latency))}, indent=1))
    print()
    print(report)
    print(f"(also in {OUT / 'results.md'})")


if __name__ == "__main__":
    main()
