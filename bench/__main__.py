"""``python -m bench [NAME…]``: run every ``bench/bench_*.py`` (or the named ones) and print one table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from bench.common import Row, print_table, save


def main(argv: list[str]) -> int:
    """Run the benchmarks and print the combined table."""
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem for p in here.glob("bench_*.py"))
    all_rows: list[Row] = []
    for name in names:
        module = importlib.import_module(f"bench.{name if name.startswith('bench_') else 'bench_' + name}")
        print(f"\n## {module.__doc__.strip().splitlines()[0] if module.__doc__ else name}", flush=True)
        rows: list[Row] = module.run()
        print_table(rows)
        save(name, rows)
        all_rows.extend(rows)
    print("\n## All benchmarks\n")
    print_table(all_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
