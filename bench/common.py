"""What every benchmark shares: a result row, a table printer, and the results file."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measured figure beside its baseline from the same run."""

    bench: str
    case: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    higher_is_better: bool = True
    note: str = ""
    extra: dict[str, float | str] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Aduan's figure relative to the baseline (1.0 = as good as the baseline)."""
        if not self.baseline or not self.value:
            return 0.0
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


def fmt(value: float) -> str:
    """Format a figure with sensible precision."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def print_table(rows: list[Row]) -> str:
    """Print rows as a Markdown table (the README's Performance section) and return it."""
    lines = [
        "| benchmark | case | Aduan | baseline | baseline figure | ratio | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.bench} | {r.case} | {fmt(r.value)} {r.unit} | {r.baseline_name} | "
            f"{fmt(r.baseline)} {r.unit} | {r.ratio:.2f}× | {r.note} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def save(name: str, rows: list[Row]) -> None:
    """Write the rows of one benchmark to bench/results/<name>.json with the machine's details."""
    RESULTS.mkdir(exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2))
