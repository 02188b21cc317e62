#!/usr/bin/env python3
"""The end of `make bench`: the summary table of this run's figures.

Reads the rows the benchmarks appended to RESULTS (JSON lines, one per figure: `BenchReport` in
Sources/DabbaTestSupport), prints them as BENCHMARKS.md's first table (figure, target, latest value, verdict, date,
commit, load, command) and writes them as one JSON document to OUT, for comparing runs later.
Usage: report.py RESULTS OUT
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    results, out = sys.argv[1], sys.argv[2]
    rows = []
    try:
        with open(results, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    print(f"report: {results}:{number}: not a JSON row ({error}); skipped", file=sys.stderr)
    except FileNotFoundError:
        print(f"report: no figures recorded ({results} does not exist)")
        return 0
    columns = ["figure", "target", "value", "verdict", "date", "commit", "load", "command"]
    headings = ["figure", "target", "latest value", "verdict", "date", "commit", "load", "command"]

    def cell(row, key):
        text = str(row.get(key, "—")).replace("|", "\\|")
        return f"`{text}`" if key == "command" else text

    print()
    print(f"Summary of this run ({len(rows)} figures; the same columns as BENCHMARKS.md's first table):")
    print()
    print("| " + " | ".join(headings) + " |")
    print("|" + "---|" * len(headings))
    for row in rows:
        print("| " + " | ".join(cell(row, key) for key in columns) + " |")
    missed = [row["figure"] for row in rows if row.get("verdict") == "NOT MET"]
    print()
    print(f"{len(rows) - len(missed)} of {len(rows)} figures met or measured; NOT MET: {len(missed)}"
          + (": " + "; ".join(missed) if missed else ""))
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"rows": rows}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"(as JSON: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
