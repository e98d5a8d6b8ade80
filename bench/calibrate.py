"""Fit the efficiency constants (models/efficiency.py) to the reference data and print in-sample and LOO errors.

Prints the constants table and the estimate of every reference row (Markdown). `--constants` prints the
constant definitions to paste into models/efficiency.py; `--page docs/performance-model.md` rewrites the manual's
tables between the `calibration:begin` / `calibration:end` markers. Not a test: tests/test_calibration.py asserts
the bounds and that efficiency.py holds this fit.

    python bench/calibrate.py [--reference tests/reference] [--constants] [--page docs/performance-model.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.calibration import calibrate, constants_source, markdown_tables  # noqa: E402
from reports.atomic import write_atomic  # noqa: E402

BEGIN, END = "<!-- calibration:begin -->", "<!-- calibration:end -->"


def load_reference(folder: Path):
    """The three reference tables calibrate() reads: the shared reference's files, each followed by its `_added`
    companion where the folder has one (tests/reference: MLPerf v5.0/v5.1 Blackwell rows and GB300, SOURCE.md)."""
    def table(name: str) -> pd.DataFrame:
        added = folder / f"{name}_added.csv"
        frames = [pd.read_csv(folder / f"{name}.csv")] + ([pd.read_csv(added)] if added.exists() else [])
        return pd.concat(frames, ignore_index=True)

    return table("training_runs"), table("inference_benchmarks"), table("accelerators")


def replace_section(text: str, tables: str) -> str:
    """`text` with everything between the markers replaced by `tables`."""
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"the page has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{tables}{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT / "tests" / "reference")
    parser.add_argument("--constants", action="store_true", help="print efficiency.py's constant definitions")
    parser.add_argument("--page", "--readme", dest="page", type=Path,
                        help="rewrite this page's calibration tables (docs/performance-model.md)")
    args = parser.parse_args()
    result = calibrate(*load_reference(args.reference))
    tables = markdown_tables(result)
    print(tables)
    if args.constants:
        print(constants_source(result))
    if args.page:
        text = replace_section(args.page.read_text(encoding="utf-8"), tables)
        write_atomic(args.page, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"wrote {args.page}", file=sys.stderr)


if __name__ == "__main__":
    main()
