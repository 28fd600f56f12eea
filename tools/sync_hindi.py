"""Copy code cells (source and outputs) from each English notebook into its Hindi twin, keeping the Hindi prose.

Run after changing English code; then translate any new markdown cells the script reports.
"""
import pathlib
import sys

import nbformat

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def sync(english: pathlib.Path) -> list[str]:
    """Update notebooks/hi/<name> from english; return what still needs a translator."""
    hindi_path = NOTEBOOKS / "hi" / english.name
    en = nbformat.read(english, as_version=4)
    if not hindi_path.exists():
        return [f"{hindi_path.name}: no Hindi edition yet (copy the English notebook and translate its markdown)"]
    hi = nbformat.read(hindi_path, as_version=4)
    if [c.cell_type for c in hi.cells] != [c.cell_type for c in en.cells]:
        return [f"{hindi_path.name}: cells differ in number or kind; align them by hand"]
    for a, b in zip(en.cells, hi.cells):
        if a.cell_type == "code":
            b.source, b.outputs, b.execution_count = a.source, a.outputs, a.execution_count
    nbformat.write(hi, hindi_path)
    return []


def main() -> int:
    todo = [line for path in sorted(NOTEBOOKS.glob("*.ipynb")) for line in sync(path)]
    for line in todo:
        print(line)
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main())
