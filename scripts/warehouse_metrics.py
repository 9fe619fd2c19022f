"""The metric queries of sql/ checked against figures computed independently from the server.

The warehouse check (scripts/warehouse.sh) runs every query of `sql/` on both databases after
each `meltano run` (`warehouse.py dump` stores the results). This script computes what each
query must return WITHOUT the tap, the loaders or any SQL: it reads the server's own API
pages over HTTP (urllib, with the credentials of the tap's config, following the pagination;
the server's clock decides what exists) and applies each metric's definition (the header of
its .sql file) in Python. Then it compares, row by row.

Usage:
  warehouse_metrics.py expected CONFIG.json OUT.json   # read the API, compute the figures
  warehouse_metrics.py check TARGET DUMP.json EXPECTED.json

`expected` reads, for each workspace of the config (`workspaces`, else `workspace`, else
`/user/workspaces`) and each of its repositories: `/environments/`, `/deployments/` (page
numbers built here: the `next` links of that endpoint skip pages on Bitbucket, and on the
simulator by default), `/pullrequests` in all four states, `/pullrequests/activity` (the
comment and approval items) and each pull request's `/diffstat`. It assumes the tap read the
same objects: a `start_date` later than the server's oldest objects would leave rows out of
the tables that the API still serves.

`check` prints one line per mismatch (query, database, row, expected vs actual), compares
`hours` and `rate` (double precision, unrounded) within floating-point noise, everything else
exactly (timestamps to the microsecond, in UTC); it also fails when
a query returns no row (the simulator's data has deployments, failures, restores, merged and
deployed pull requests) or not in its ORDER BY order.
"""

import base64
import datetime as dt
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

# The columns of spec §3c, in order, and the columns that identify a row.
COLUMNS = {
    "deployment_frequency": ["environment_type", "week_start", "deployments"],
    "change_failure_rate": ["environment_type", "deployments", "failed", "rate"],
    "time_to_restore": ["repository_uuid", "environment_uuid", "failed_at", "restored_at", "hours"],
    "lead_time": ["repository_uuid", "pullrequest_id", "created_on", "deployed_on", "hours"],
    "pullrequest_review": [
        "repository_uuid",
        "pullrequest_id",
        "state",
        "created_on",
        "first_review_on",
        "comments",
        "approvals",
        "lines_added",
        "lines_removed",
    ],
}
KEYS = {
    "deployment_frequency": 2,
    "change_failure_rate": 1,
    "time_to_restore": 3,
    "lead_time": 2,
    "pullrequest_review": 2,
}
# The queries return double precision, unrounded: only floating-point noise is tolerated
# (1e-9 h is 3.6 µs, below the microsecond timestamps the hours are computed from).
TOLERANCE = {"hours": 1e-9, "rate": 1e-12}
SHOWN_PER_QUERY = 20  # mismatch lines per query and database; the rest are counted
PR_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")


def fail(message):
    print(f"warehouse: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------
# The server's API.


class Api:
    """GETs of the API with the config's credentials."""

    def __init__(self, config):
        self.root = config.get("api_url", "https://api.bitbucket.org/2.0").rstrip("/")
        if config.get("access_token"):
            self.authorization = f"Bearer {config['access_token']}"
        elif config.get("email") and config.get("api_token"):
            pair = f"{config['email']}:{config['api_token']}".encode()
            self.authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            fail("warehouse_metrics: the config has neither access_token nor email and api_token")
        self.requests = 0

    def get(self, url):
        if not url.startswith("http"):
            url = self.root + url
        request = urllib.request.Request(url, headers={"Authorization": self.authorization, "Accept": "application/json"})
        self.requests += 1
        try:
            # A 302 (the diffstat) is followed to the same server, headers kept.
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            fail(f"warehouse_metrics: GET {url}: HTTP {e.code}")
        except (urllib.error.URLError, OSError, ValueError) as e:
            fail(f"warehouse_metrics: GET {url}: {e}")

    def follow(self, url):
        """Every value of a listing, following its `next` links."""
        values, seen = [], set()
        while url:
            if url in seen:
                fail(f"warehouse_metrics: {url} repeats a page")
            seen.add(url)
            page = self.get(url)
            values.extend(page.get("values", []))
            url = page.get("next")
        return values

    def numbered(self, url, pagelen=100):
        """Every value of a page-numbered listing, by `page=N`, until a short page."""
        values, separator = [], "&" if "?" in url else "?"
        for number in range(1, 10_000):
            page = self.get(f"{url}{separator}pagelen={pagelen}&page={number}")
            batch = page.get("values", [])
            values.extend(batch)
            if len(batch) < pagelen or ("size" in page and len(values) >= page["size"]):
                return values
        fail(f"warehouse_metrics: {url}: more than 10,000 pages")


def quoted(slug):
    return urllib.parse.quote(slug, safe="")


def read_repository(api, workspace, repository):
    """What the metrics need of one repository, straight from the API."""
    base = f"/repositories/{quoted(workspace)}/{quoted(repository['slug'])}"
    states = "&".join(f"state={s}" for s in PR_STATES)
    pullrequests = api.follow(f"{base}/pullrequests?{states}&pagelen=50")
    return {
        "uuid": repository["uuid"],
        "environments": api.follow(f"{base}/environments/?pagelen=100"),
        "deployments": api.numbered(f"{base}/deployments/"),
        "pullrequests": pullrequests,
        "activity": api.follow(f"{base}/pullrequests/activity?pagelen=50"),
        "diffstat": {pr["id"]: api.follow(f"{base}/pullrequests/{pr['id']}/diffstat?pagelen=500") for pr in pullrequests},
    }


def read_server(config):
    api = Api(config)
    workspaces = config.get("workspaces") or ([config["workspace"]] if config.get("workspace") else None)
    if not workspaces:
        workspaces = [w["workspace"]["slug"] for w in api.follow("/user/workspaces?pagelen=100")]
    repositories = [
        (workspace, repository)
        for workspace in workspaces
        for repository in api.follow(f"/repositories/{quoted(workspace)}?pagelen=100")
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        read = list(pool.map(lambda wr: read_repository(api, *wr), repositories))
    return read, api.requests, simulator_now(api.root)


def simulator_now(root):
    """The simulator's clock (`GET /_simulator/clock`, no auth), None from another server."""
    try:
        with urllib.request.urlopen(root.rsplit("/2.0", 1)[0] + "/_simulator/clock", timeout=10) as response:
            return json.load(response).get("now")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------------------------------
# The metrics, by the definitions in the headers of sql/*.sql.


def utc(text):
    """RFC 3339 text as a naive UTC datetime (how both databases hold timestamps)."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)


def completed_on(deployment):
    state = deployment.get("state") or {}
    return utc(state.get("completed_on") or state.get("completion_date"))


def status(deployment):
    state = deployment.get("state") or {}
    if state.get("name") != "COMPLETED":
        return None
    return (state.get("status") or {}).get("name")


def hours(later, earlier):
    return (later - earlier).total_seconds() / 3600


def iso(value):
    return value.isoformat() if value is not None else None


def uuid_of(account):
    return (account or {}).get("uuid")


def compute(repositories):
    frequency = defaultdict(int)
    outcomes = defaultdict(lambda: [0, 0])  # environment type -> [SUCCESSFUL or FAILED, FAILED]
    restores, lead_times, reviews = [], [], []
    for repo in repositories:
        types = {e["uuid"]: (e.get("environment_type") or {}).get("name") for e in repo["environments"]}
        completed = []  # (environment uuid, status, completed_on, release commit hash)
        for d in repo["deployments"]:
            environment = (d.get("environment") or {}).get("uuid")
            outcome, at = status(d), completed_on(d)
            if outcome is None:
                continue
            commit = (((d.get("release") or {}).get("commit")) or {}).get("hash") or ""
            completed.append((environment, outcome, at, commit))
            kind = types.get(environment)
            if kind is None:
                continue  # an environment not served: the queries' inner join leaves it out
            if outcome == "SUCCESSFUL" and at is not None:
                monday = at.date() - dt.timedelta(days=at.weekday())
                frequency[(kind, monday.isoformat())] += 1
            if outcome in ("SUCCESSFUL", "FAILED"):
                outcomes[kind][0] += 1
                outcomes[kind][1] += outcome == "FAILED"
        # Time to restore: each failure, the earliest success of its environment after it.
        for environment, outcome, failed_at, _ in completed:
            if outcome != "FAILED" or failed_at is None:
                continue
            later = [at for e, o, at, _ in completed if e == environment and o == "SUCCESSFUL" and at and at > failed_at]
            if later:
                restored = min(later)
                restores.append([repo["uuid"], environment, iso(failed_at), iso(restored), hours(restored, failed_at)])
        # Lead time: merged pull requests whose merge commit (a prefix) reached production.
        production = [
            (commit, at)
            for environment, outcome, at, commit in completed
            if outcome == "SUCCESSFUL" and at is not None and types.get(environment) == "Production"
        ]
        for pr in repo["pullrequests"]:
            merge = (pr.get("merge_commit") or {}).get("hash") or ""
            if pr.get("state") != "MERGED" or len(merge) < 7:
                continue
            deployed = [at for commit, at in production if commit.startswith(merge)]
            if deployed:
                created = utc(pr["created_on"])
                lead_times.append([repo["uuid"], pr["id"], iso(created), iso(min(deployed)), hours(min(deployed), created)])
        # Review: comments (once per id) and approvals from the activity feed, diffstat lines.
        comments, approvals = {}, defaultdict(list)
        for item in repo["activity"]:
            pr_id = (item.get("pull_request") or {}).get("id")
            if item.get("comment") and item["comment"].get("id") is not None:
                comments[(pr_id, item["comment"]["id"])] = item["comment"]
            elif item.get("approval"):
                approvals[pr_id].append(item["approval"])
        comments_of = defaultdict(list)
        for (pr_id, _), comment in comments.items():
            if not comment.get("deleted"):
                comments_of[pr_id].append(comment)
        for pr in repo["pullrequests"]:
            author = uuid_of(pr.get("author"))
            times = [utc(c["created_on"]) for c in comments_of[pr["id"]] if uuid_of(c.get("user")) != author]
            times += [utc(a["date"]) for a in approvals[pr["id"]] if uuid_of(a.get("user")) != author]
            times = [t for t in times if t is not None]
            entries = repo["diffstat"].get(pr["id"], [])
            reviews.append([
                repo["uuid"],
                pr["id"],
                pr.get("state"),
                iso(utc(pr["created_on"])),
                iso(min(times)) if times else None,
                len(comments_of[pr["id"]]),
                len(approvals[pr["id"]]),
                sum(e.get("lines_added") or 0 for e in entries),
                sum(e.get("lines_removed") or 0 for e in entries),
            ])
    return {
        "deployment_frequency": sorted([kind, week, n] for (kind, week), n in frequency.items()),
        "change_failure_rate": sorted([kind, n, failed, failed / n] for kind, (n, failed) in outcomes.items()),
        "time_to_restore": sorted(restores, key=lambda r: r[:3]),
        "lead_time": sorted(lead_times, key=lambda r: r[:2]),
        "pullrequest_review": sorted(reviews, key=lambda r: r[:2]),
    }


def cmd_expected(config_path, out_path):
    with open(config_path) as f:
        config = json.load(f)
    repositories, requests, now = read_server(config)
    expected = compute(repositories)
    with open(out_path, "w") as f:
        json.dump({"now": now, "requests": requests, "metrics": expected}, f)
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in expected.items())
    print(f"  the metrics computed from the API ({requests} requests, server time {now}): rows {counts}")


# ---------------------------------------------------------------------------------------
# The comparison.


def same_value(column, got, want):
    if column in TOLERANCE:
        return got is not None and want is not None and abs(float(got) - float(want)) <= TOLERANCE[column]
    return got == want


def check_query(name, target, result, want):
    """Mismatch lines of one query on one database."""
    if result is None:
        return [f"query {name} on {target}: not run (the dump has no result)"]
    if result.get("error"):
        return [f"query {name} on {target}: failed: {result['error']}"]
    columns, rows = result["columns"], result["rows"]
    if columns != COLUMNS[name]:
        return [f"query {name} on {target}: columns {columns}, expected {COLUMNS[name]}"]
    problems = []
    if not want:
        problems.append(f"query {name}: the server's data give no row: the check proves nothing")
    if not rows:
        problems.append(f"query {name} on {target}: no row; expected {len(want)}")
    n = KEYS[name]
    got_by_key, want_by_key = defaultdict(list), defaultdict(list)
    for row in rows:
        got_by_key[json.dumps(row[:n])].append(row)
    for row in want:
        want_by_key[json.dumps(row[:n])].append(row)
    # The expected rows in their order, then the unexpected ones in the order they came.
    for key in list(want_by_key) + [k for k in got_by_key if k not in want_by_key]:
        got, wanted = got_by_key.get(key, []), want_by_key.get(key, [])
        label = f"query {name} on {target}: row {', '.join(map(str, json.loads(key)))}"
        if not got:
            problems.append(f"{label}: missing; expected {dict(zip(columns[n:], wanted[0][n:]))}")
            continue
        if not wanted:
            problems.append(f"{label}: unexpected {dict(zip(columns[n:], got[0][n:]))}")
            continue
        if len(got) != len(wanted):
            problems.append(f"{label}: {len(got)} rows, expected {len(wanted)}")
            continue
        for g, w in zip(sorted(got, key=json.dumps), sorted(wanted, key=json.dumps)):
            diffs = [f"{c} {a!r}, expected {b!r}" for c, a, b in zip(columns[n:], g[n:], w[n:]) if not same_value(c, a, b)]
            if diffs:
                problems.append(f"{label}: {'; '.join(diffs)}")
    if not problems:
        order = [json.dumps(r[:n]) for r in rows]
        wanted_order = [json.dumps(r[:n]) for r in want]
        if order != wanted_order:
            at = next(i for i, (a, b) in enumerate(zip(order, wanted_order)) if a != b)
            problems.append(f"query {name} on {target}: rows not in ORDER BY order: row {at + 1} is {order[at]}, expected {wanted_order[at]}")
    return problems


def cmd_check(target, dump_path, expected_path):
    with open(dump_path) as f:
        dump = json.load(f)
    with open(expected_path) as f:
        expected = json.load(f)["metrics"]
    results = dump.get("metrics", {})
    extra = sorted(set(results) - set(COLUMNS))
    problems = [f"sql/{name}.sql: a query the check does not know (add its figures here)" for name in extra]
    for name, want in expected.items():
        lines = check_query(name, target, results.get(name), want)
        problems.extend(lines[:SHOWN_PER_QUERY])
        if len(lines) > SHOWN_PER_QUERY:
            problems.append(f"query {name} on {target}: … and {len(lines) - SHOWN_PER_QUERY} more mismatches")
    if problems:
        for problem in problems:
            print(f"warehouse: FAILED: {problem}", file=sys.stderr)
        raise SystemExit(1)
    for name, want in expected.items():
        print(f"  query {name} on {target}: {len(want)} rows = the figures computed from the API; first: {results[name]['rows'][0]}")


def main(argv):
    commands = {"expected": cmd_expected, "check": cmd_check}
    if not argv or argv[0] not in commands:
        fail(__doc__)
    commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
