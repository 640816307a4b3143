"""One figure of a benchmark: printed beside its limit, and appended as one JSON object to
``.local/bench/results.jsonl`` (name, value, limit, ratio, unit, machine). On these noisy
machines only a ratio measured in the same run, or a count noise cannot move, holds."""

import json
from pathlib import Path
from typing import Any

from .common import machine

RESULTS = Path(__file__).resolve().parents[2] / ".local" / "bench" / "results.jsonl"


def record(name: str, value: float, limit: float | None, unit: str, *, at_least: bool = True, **details: Any) -> None:
    """``at_least``: the value must reach the limit (a rate); otherwise stay under it (a count,
    a latency). The ratio is value / limit either way; a figure without a limit is reported."""
    ratio = value / limit if limit else None
    met = None if ratio is None else (ratio >= 1 if at_least else ratio <= 1)
    against = "" if ratio is None else f"limit {'>=' if at_least else '<='} {limit:g}  ratio {ratio:.2f}  "
    verdict = "" if met is None else ("met" if met else "NOT met")
    print(f"  {name:<58} {value:>10.2f} {unit:<14} {against}{verdict}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    figure = {"name": name, "value": round(value, 3), "limit": limit, "ratio": ratio and round(ratio, 3)}
    with RESULTS.open("a") as results:
        results.write(json.dumps(figure | {"unit": unit, "met": met, "machine": machine()} | details) + "\n")
