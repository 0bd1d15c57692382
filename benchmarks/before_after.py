#!/usr/bin/env python3
"""benchmarks/run.py on two checkouts of siamcli, alternating case by case, in one run of one machine.

    python benchmarks/before_after.py --before /work/wt-pre14 --before-python /work/venv-pre14/bin/python \
        --case allpairs --case topk --case startup --rounds 2

Each checkout runs its own benchmarks/run.py with its own interpreter (its own installed siamcli), so a
renovation is measured on the same data and the same load: case A before, case A after, case B before, ...
repeated `--rounds` times. The tables of every run are printed as run.py prints them, then one summary:
per case and implementation, the median time before and after and their ratio (after / before).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_case(tree: Path, python: str, case: str, extra: list[str]) -> tuple[str, dict]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([python, str(tree / "benchmarks" / "run.py"), "--case", case, "--json", out.name, *extra],
                              cwd=tree, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{tree}: run.py --case {case} failed:\n{proc.stderr}")
        return proc.stdout, json.loads(Path(out.name).read_text())


def medians(report: dict) -> dict[tuple[str, str], float]:
    """(case, implementation) -> median seconds, from run.py's JSON ({"cases": {name: [tables]}})."""
    found = {}
    for case, tables in report["cases"].items():
        for table in tables:
            for row in table["results"]:
                if row.get("median_s") is not None:  # one table per metric: its title names it
                    found[(table["title"].split(":")[0], row["name"])] = row["median_s"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the other checkout (its benchmarks/run.py is run)")
    parser.add_argument("--before-python", required=True, help="the interpreter with that checkout installed")
    parser.add_argument("--after", default=str(HERE.parent), help="this checkout (default)")
    parser.add_argument("--after-python", default=sys.executable)
    parser.add_argument("--case", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    extra = ["--quick"] if args.quick else []
    times: dict[str, dict[tuple[str, str], list[float]]] = {"before": {}, "after": {}}
    for round_ in range(args.rounds):
        for case in args.case:
            for label, tree, python in (("before", args.before, args.before_python),
                                        ("after", args.after, args.after_python)):
                text, report = run_case(Path(tree), python, case, extra)
                print(f"===== {case}, {label} ({tree}), round {round_ + 1}\n{text}", flush=True)
                for key, value in medians(report).items():
                    times[label].setdefault(key, []).append(value)
    print("===== summary: median seconds over rounds; ratio = after / before (< 1: after is faster)")
    print(f"{'table':<20} {'implementation':<34} {'before':>10} {'after':>10} {'ratio':>7}")
    for key in sorted(set(times["before"]) & set(times["after"])):
        before, after = statistics.median(times["before"][key]), statistics.median(times["after"][key])
        print(f"{key[0][:20]:<20} {key[1][:34]:<34} {before:>10.4f} {after:>10.4f} {after / before:>7.3f}")


if __name__ == "__main__":
    main()
