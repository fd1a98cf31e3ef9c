"""Results: JSON, a PNG plot and a Markdown summary (ratios to the floor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

APP_STYLE = {"secinfo": "-", "floor": "--"}


def _key(cell: dict[str, Any]) -> tuple[str, str, int]:
    return cell["backend"], cell["scenario"], cell["concurrency"]


def with_ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``ratio_to_floor`` to every secinfo cell that has a floor twin."""
    floors = {_key(cell): cell for cell in cells if cell["app"] == "floor"}
    for cell in cells:
        twin = floors.get(_key(cell))
        if cell["app"] == "secinfo" and twin and twin["throughput"]:
            cell["ratio_to_floor"] = round(cell["throughput"] / twin["throughput"], 3)
    return cells


def plot(cells: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [s for s in ("verify", "signin", "mixed") if any(c["scenario"] == s for c in cells)]
    metrics = [("throughput", "throughput (ops/s)"), ("p50", "p50 ms"), ("p95", "p95 ms")]
    metrics.append(("p99", "p99 ms"))
    figure, axes = plt.subplots(
        len(scenarios), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(scenarios)),
        squeeze=False,
    )  # fmt: skip
    backends = sorted({cell["backend"] for cell in cells})
    colors = {backend: f"C{index}" for index, backend in enumerate(backends)}
    for row, scenario in enumerate(scenarios):
        for column, (metric, label) in enumerate(metrics):
            axis = axes[row][column]
            for app in ("secinfo", "floor"):
                for backend in backends:
                    series = sorted(
                        (c for c in cells
                         if c["scenario"] == scenario and c["app"] == app
                         and c["backend"] == backend),
                        key=lambda c: c["concurrency"],
                    )  # fmt: skip
                    if not series:
                        continue
                    xs = [c["concurrency"] for c in series]
                    if metric == "throughput":
                        ys = [c["throughput"] for c in series]
                    else:
                        ys = [c["latency_ms"][metric] or float("nan") for c in series]
                    axis.plot(
                        xs, ys, APP_STYLE[app], marker="o", markersize=3,
                        color=colors[backend], label=f"{app} {backend}",
                    )  # fmt: skip
            axis.set_xscale("log", base=2)
            if metric != "throughput":
                axis.set_yscale("log")
            axis.set_xlabel("concurrency")
            axis.set_title(f"{scenario}: {label}", fontsize=9)
            axis.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(title + "  (solid: secinfo, dashed: floor)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(cells: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | backend | conc. | secinfo ops/s | floor ops/s | ratio "
        "| secinfo p50 / p95 / p99 ms | floor p99 ms | errors | client CPU | server CPU |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    floors = {_key(c): c for c in cells if c["app"] == "floor"}
    for cell in sorted(
        (c for c in cells if c["app"] == "secinfo"),
        key=lambda c: (c["scenario"], c["backend"], c["concurrency"]),
    ):
        floor = floors.get(_key(cell))
        lat = cell["latency_ms"]
        lines.append(
            f"| {cell['scenario']} | {cell['backend']} | {_conc(cell)} "
            f"| {cell['throughput']} | {floor['throughput'] if floor else '-'} "
            f"| {cell.get('ratio_to_floor', '-')} | {lat['p50']} / {lat['p95']} / {lat['p99']} "
            f"| {floor['latency_ms']['p99'] if floor else '-'} "
            f"| {cell['errors'] + (floor['errors'] if floor else 0)} "
            f"| {cell['client_cpu_cores']} | {cell['server_cpu_cores']} |"
        )
    return "\n".join(lines) + "\n"


def _conc(cell: dict[str, Any]) -> str:
    """The concurrency, or for an open loop the offered rate and the connection cap."""
    rate = cell.get("offered_per_s")
    return f"{rate:g}/s (≤{cell['concurrency']})" if rate else str(cell["concurrency"])
