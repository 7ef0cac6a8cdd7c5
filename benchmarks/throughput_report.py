"""benchmarks/throughput.py's report: the Markdown table (medians, min-max, ratios, p99, errors,
peak RSS, the issue's targets met or not) and the chart of the ratios to waitress (SVG,
matplotlib: a benchmark-only requirement, imported only here)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import NamedTuple, Optional


class Measure(NamedTuple):
    rps: float
    p99_ms: float
    errors: int
    rss_mib: float


Results = dict[tuple[str, str], list[Measure]]
OURS = "simplewsgi CLI"  # the command, its access log on (the subject)
NO_LOG = "CLI no log"
# (case, the server to beat, the ratio to reach), issue 14
TARGETS = [
    ("hello keep-alive", "waitress", 3.0),
    ("hello Connection: close", "waitress", 2.0),
    ("64 KiB body", "cheroot", 2.0),
    ("10 KiB POST echo", "waitress", 2.0),
    ("100 keep-alive connections", "waitress", 3.0),
]


def median_rps(results: Results, name: str, case: str) -> Optional[float]:
    runs = results.get((name, case))
    return statistics.median(m.rps for m in runs) if runs else None


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{model or platform.processor()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def _cell(runs: list[Measure]) -> str:
    values = [m.rps for m in runs]
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def table(names: list[str], cases: list[str], results: Results) -> str:
    lines = [
        "| server | " + " | ".join(cases) + " | p99 ms (hello, 10 conn.) | errors | peak RSS MiB |",
        "|---|" + "---:|" * (len(cases) + 3),
    ]
    for name in names:
        cells = [_cell(results[(name, case)]) if (name, case) in results else "—" for case in cases]
        runs = [m for case in cases for m in results.get((name, case), [])]
        hello = results.get((name, "hello keep-alive"), [])
        p99 = f"{statistics.median(m.p99_ms for m in hello):.2f}" if hello else "—"
        errors = sum(m.errors for m in runs)
        rss = max((m.rss_mib for m in runs), default=0.0)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {p99} | {errors} | {rss:.1f} |")
    return "\n".join(lines)


def ratios(names: list[str], cases: list[str], results: Results) -> str:
    lines = [
        f"| {OURS} / | " + " | ".join(cases) + " |",
        "|---|" + "---:|" * len(cases),
    ]
    for other in names:
        if other == OURS:
            continue
        cells = []
        for case in cases:
            ours, theirs = median_rps(results, OURS, case), median_rps(results, other, case)
            cells.append(f"{ours / theirs:.2f}x" if ours and theirs else "—")
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(cases: list[str], results: Results) -> str:
    lines = []
    for case, other, goal in TARGETS:
        ours, theirs = median_rps(results, OURS, case), median_rps(results, other, case)
        if case in cases and ours and theirs:
            ratio = ours / theirs
            verdict = "met" if ratio >= goal else f"not met ({ratio / goal:.0%} of it)"
            lines.append(f"- {case}: {ratio:.2f}x {other}, target {goal:g}x: {verdict}")
    hello = results.get((OURS, "hello keep-alive"), [])
    if hello:
        p99 = statistics.median(m.p99_ms for m in hello)
        lines.append(
            f"- p99 at 10 connections: {p99:.2f} ms, target <= 2 ms: "
            + ("met" if p99 <= 2.0 else "not met")
        )
    ours_runs = [m for case in cases for m in results.get((OURS, case), [])]
    if ours_runs:
        errors = sum(m.errors for m in ours_runs)
        lines.append(f"- errors: {errors}, target 0: " + ("met" if not errors else "not met"))
    waitress_runs = [m for case in cases for m in results.get(("waitress", case), [])]
    if ours_runs and waitress_runs:
        ratio = max(m.rss_mib for m in ours_runs) / max(m.rss_mib for m in waitress_runs)
        lines.append(
            f"- peak RSS: {ratio:.2f}x waitress's, target <= 1.2x: "
            + ("met" if ratio <= 1.2 else "not met")
        )
    costs = []
    for case in cases:
        on, off = median_rps(results, OURS, case), median_rps(results, NO_LOG, case)
        if on and off:
            costs.append(1 - on / off)
    if costs:
        worst = max(costs)
        lines.append(
            f"- the access log's cost: at most {worst:.0%} of throughput (median per "
            "case, log on vs --no-access-log), target <= 10%: "
            + ("met" if worst <= 0.10 else "not met")
        )
    return "\n".join(lines)


# simplewsgi in reds, the ceiling and the base in greys; the others take the next colors.
COLORS = {OURS: "#d62728", NO_LOG: "#ff9896", "simplewsgi": "#ff7f0e", "ceiling": "#c7c7c7"}
LABELS = {
    "hello keep-alive": "hello\nkeep-alive",
    "hello Connection: close": "hello\nConnection: close",
    "64 KiB body": "64 KiB\nbody",
    "10 KiB POST echo": "10 KiB\nPOST echo",
    "100 keep-alive connections": "100 keep-alive\nconnections",
}


def chart(
    path: Path, names: list[str], cases: list[str], results: Results, title: str, fmt: str = "svg"
) -> None:
    """Grouped bars: each server's median requests/s over waitress's, per case (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "simplewsgi"  # the same data makes the same file
    matplotlib.rcParams["svg.fonttype"] = "none"
    shown = [name for name in names if name != "waitress"]
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / max(len(shown), 1)
    others = iter(["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2"])
    for index, name in enumerate(shown):
        heights = []
        for case in cases:
            ours, base = median_rps(results, name, case), median_rps(results, "waitress", case)
            heights.append(ours / base if ours and base else 0.0)
        xs = [i + (index - (len(shown) - 1) / 2) * width for i in range(len(cases))]
        color = COLORS.get(name) or next(others, "#7f7f7f")
        ax.bar(xs, heights, width, label=name, color=color)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s relative to waitress (log scale)")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([LABELS.get(case, case) for case in cases], fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)


def write_report(
    out: Path,
    names: list[str],
    cases: list[str],
    results: Results,
    command: str,
    duration: int,
    rounds: int,
    note: str,
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    about = (
        f"`{command.strip()}` on {when}: {machine()}. Server on core 1, `wrk -t1` on core 0, "
        f"{rounds} interleaved rounds of {duration} s; requests/s as median (min-max). " + note
    )
    text = (
        "\n\n".join(
            [
                "# Throughput",
                about,
                table(names, cases, results),
                "## Ratios (medians)",
                ratios(names, cases, results),
                "## Targets (issue 14)",
                targets(cases, results),
            ]
        )
        + "\n"
    )
    (out / "throughput.md").write_text(text)
    raw = {
        "command": command,
        "names": names,
        "cases": cases,
        "results": [
            [name, case, [m._asdict() for m in runs]] for (name, case), runs in results.items()
        ],
    }
    (out / "throughput.json").write_text(json.dumps(raw, indent=1) + "\n")
    try:
        chart(out / "throughput.svg", names, cases, results, f"{command.strip()} — {machine()}")
    except ImportError:
        print("no chart: pip install -r benchmarks/requirements.txt (matplotlib)")
    return text
