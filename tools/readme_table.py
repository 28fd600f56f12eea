"""Rewrite the README's table of notebooks from each notebook's metadata (objectives and minutes).

    python tools/readme_table.py          rewrite README.md between its markers
    python tools/readme_table.py --check  exit 1 if the table differs from what the metadata says

A notebook without metadata keeps its current row's description, with no minutes, and is named on stderr.
tests/test_readme_table.py fails when the README's table and the metadata disagree.
"""
import argparse
import pathlib
import re
import sys

try:
    from tools import teaching
except ImportError:  # run as a script from tools/
    import teaching

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- notebooks table: made by tools/readme_table.py from each notebook's metadata; edit the metadata -->"
END = "<!-- end of the notebooks table -->"
HEADER = ["| # | notebook | you learn | minutes to teach | minutes to run |", "|---|---|---|---|---|"]


def short_title(nb) -> str:
    """'01 · Data splitting: workers, ...' -> 'Data splitting'."""
    return re.sub(r"^\d+\s*·\s*", "", nb.title).split(":")[0].strip()


def current_rows(text: str) -> dict:
    """The README's present description of each notebook, by file name (from any table row linking it)."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*\d+\s*\|\s*\[[^\]]*\]\(notebooks/([^)]+\.ipynb)\)\s*\|\s*([^|]*)\|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def table(notebooks, text: str) -> str:
    """The table for these notebooks; rows without metadata keep the description text already has."""
    kept, lines = current_rows(text), list(HEADER)
    for nb in notebooks:
        if nb.meta:
            learn = "; ".join(o.rstrip(";. ") for o in nb.meta["objectives"])
            teach, run = f"{nb.meta['minutes_to_teach']:g}", f"{nb.meta['minutes_to_run']:g}"
        else:
            learn, teach, run = kept.get(nb.name, "(no metadata yet)"), "–", "–"
        lines.append(f"| {nb.number} | [{short_title(nb)}](notebooks/{nb.name}) | {learn} | {teach} | {run} |")
    return "\n".join(lines)


def rewrite(text: str, notebooks) -> str:
    """text with the part between the markers replaced by the table."""
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no table markers; put the table between\n{START}\nand\n{END}")
    before, rest = text.split(START, 1)
    old, after = rest.split(END, 1)
    return f"{before}{START}\n{table(notebooks, old)}\n{END}{after}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    notebooks = teaching.load()
    for line in teaching.warnings(notebooks):
        print(f"readme_table: {line}", file=sys.stderr)
    text = README.read_text(encoding="utf-8")
    new = rewrite(text, notebooks)
    if args.check:
        if new != text:
            print("README.md's notebook table differs from the metadata: run python tools/readme_table.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
