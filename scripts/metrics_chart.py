"""Weekly deployments and lead time as a small SVG chart, from the shipped metric queries.

Runs sql/deployment_frequency.sql and sql/lead_time.sql, unchanged, on a DuckDB database that
target-duckdb loaded (schema `tap_bitbucket`), and writes an SVG: per week (Monday, UTC) the
successful deployments stacked by environment type (left axis), and the median lead time of
the pull requests whose merge commit reached production that week (right axis, hours).
Plain Python and the `duckdb` module (the one of target-duckdb's virtualenv); no plotting
library. The SVG depends only on the query results: the same data give the same bytes.

Usage (with the python that has duckdb, e.g. .meltano/loaders/target-duckdb/venv/bin/python):
  metrics_chart.py DUCKDB_FILE OUT.svg [--table QUERY]
--table QUERY also prints that query's result (a name of sql/) as a Markdown table.

docs/metrics.svg is this chart of the demo data; to regenerate it, see the README
("Into a warehouse"): the simulator started with `--anchor 2026-06-01T00:00:00Z`, one
`meltano run tap-bitbucket target-duckdb` into an empty output/, then this script.
"""

import statistics
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA = "tap_bitbucket"
ENVIRONMENTS = [("Test", "#b7d4ea"), ("Staging", "#6baed6"), ("Production", "#2171b5")]
LINE = "#e6550d"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 64, 48, 58


def run(conn, name):
    cursor = conn.execute((SQL_DIR / f"{name}.sql").read_text())
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()


def nice_ceiling(value, ticks=4):
    """The top of an axis of `ticks` equal whole steps (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 ×
    10^k, whole numbers) that reaches value."""
    scale = 1
    while True:
        for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            step = m * scale
            if step == int(step) and step * ticks >= value:
                return int(step) * ticks
        scale *= 10


def number(value):
    return f"{value:g}"


def chart(frequency, lead_times):
    deployments = defaultdict(lambda: defaultdict(int))  # week -> environment type -> n
    for environment_type, week, n in frequency:
        deployments[week][environment_type] += n
    by_week = defaultdict(list)
    for _, _, _, deployed_on, hours in lead_times:
        monday = deployed_on.date() - timedelta(days=deployed_on.weekday())
        by_week[monday].append(float(hours))
    weeks_seen = set(deployments) | set(by_week)
    if not weeks_seen:
        raise SystemExit("metrics_chart: the queries returned no row: nothing to draw")
    first, last = min(weeks_seen), max(weeks_seen)
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    medians = {w: statistics.median(v) for w, v in by_week.items()}

    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    left_max = nice_ceiling(max(sum(deployments[w].values()) for w in weeks) or 1)
    right_max = nice_ceiling(max(medians.values(), default=1))
    slot = plot_w / len(weeks)
    bar = max(slot * 0.7, 1)

    def x_of(i):
        return LEFT + slot * i + slot / 2

    def y_left(v):
        return TOP + plot_h - plot_h * v / left_max

    def y_right(v):
        return TOP + plot_h - plot_h * v / right_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">Weekly deployments and lead time for changes</text>',
        f'<text x="{LEFT}" y="36" fill="#555555">sql/deployment_frequency.sql and sql/lead_time.sql on the demo data, '
        f"weeks {first.isoformat()} to {last.isoformat()} (UTC, from Monday)</text>",
    ]
    for i in range(5):  # grid and left axis (deployments), right axis (hours)
        v_left, v_right = left_max * i / 4, right_max * i / 4
        y = y_left(v_left)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{number(v_left)}</text>')
        out.append(f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}" fill="{LINE}">{number(v_right)}</text>')
    out.append(
        f'<text transform="translate(16 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        "successful deployments</text>"
    )
    out.append(
        f'<text transform="translate({WIDTH - 14} {TOP + plot_h / 2:.1f}) rotate(90)" text-anchor="middle" '
        f'fill="{LINE}">median lead time (hours)</text>'
    )
    for i, week in enumerate(weeks):  # stacked bars
        base = 0
        for environment_type, colour in ENVIRONMENTS:
            n = deployments[week].get(environment_type, 0)
            if n:
                y0, y1 = y_left(base), y_left(base + n)
                out.append(
                    f'<rect x="{x_of(i) - bar / 2:.1f}" y="{y1:.1f}" width="{bar:.1f}" height="{y0 - y1:.1f}" '
                    f'fill="{colour}"><title>{week.isoformat()}: {n} {environment_type}</title></rect>'
                )
            base += n
        if i % max(1, round(len(weeks) / 8)) == 0:
            out.append(
                f'<text x="{x_of(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                f"{MONTHS[week.month - 1]} {week.day}</text>"
            )
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333333"/>')
    points = [(x_of(i), y_right(medians[w]), w) for i, w in enumerate(weeks) if w in medians]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
        for x, y, w in points:
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE}">'
                f"<title>{w.isoformat()}: median {medians[w]:.1f} h over {len(by_week[w])} pull requests</title></circle>"
            )
    legend_x, legend_y = LEFT, HEIGHT - 16
    for environment_type, colour in ENVIRONMENTS:
        out.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 14}" y="{legend_y}">{environment_type}</text>')
        legend_x += 90
    out.append(f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 16}" y2="{legend_y - 4}" stroke="{LINE}" stroke-width="2"/>')
    out.append(f'<text x="{legend_x + 20}" y="{legend_y}">median lead time, by week of the production deployment</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(columns, rows):
    def cell(v):
        if v is None:
            return ""
        if hasattr(v, "isoformat"):
            return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--table"):
        raise SystemExit(__doc__)
    import duckdb  # the target's virtualenv has it

    conn = duckdb.connect(argv[0], read_only=True)
    catalog = conn.execute("select current_database()").fetchone()[0]
    conn.execute(f'use "{catalog}"."{SCHEMA}"')
    _, frequency = run(conn, "deployment_frequency")
    _, lead_times = run(conn, "lead_time")
    Path(argv[1]).write_text(chart(frequency, lead_times))
    print(f"metrics_chart: {argv[1]}: {len(frequency)} rows of deployment_frequency, {len(lead_times)} of lead_time")
    if len(argv) == 4:
        print(markdown(*run(conn, argv[3])))


if __name__ == "__main__":
    main(sys.argv[1:])
