"""Keep the Hindi edition in step with the English one, and say exactly where it is not.

Copies every English code cell (source and outputs) into its Hindi twin. Each Hindi markdown cell
records a fingerprint of the English text it translates (metadata "translation": {"of": ...}); when
the English cell changes, the Hindi one is stale until a translator updates it and accepts it:

    python tools/sync_hindi.py                 copy code, list stale or mismatched cells (exit 1 if any)
    python tools/sync_hindi.py --accept 06:12  the Hindi cell 12 of notebook 06 now translates the English
    python tools/sync_hindi.py --accept 06     every markdown cell of notebook 06 (after translating them all)

`problems()` is also what tests/test_hindi_edition.py checks: besides staleness, each markdown pair must
keep the same headings, links (which must resolve), math, inline code, numbered items and table rows.
"""
import argparse
import hashlib
import pathlib
import re
import sys
from collections import Counter

import nbformat

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
DEVANAGARI = re.compile("[\u0900-\u097F]")
_CODE = re.compile(r"`[^`\n]+`")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def fingerprint(text: str) -> str:
    """What a Hindi cell records of the English text it translates."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _structure(text: str, where: pathlib.Path) -> dict:
    """The parts of a markdown cell that a translation keeps: the same headings, links, formulas, code, items, rows.

    Formulas and code are compared as sets (a translation may name $\\eta$ once more), links by the file
    they lead to (the Hindi notebooks sit one folder deeper).
    """
    lines = text.splitlines()
    return {
        "headings": [len(m.group(1)) for m in (re.match(r"(#+) ", ln) for ln in lines) if m],
        "links": Counter(_resolved(target, where) for target in _LINK.findall(text)),
        "math": sorted({m.strip() for m in _MATH.findall(text)}),
        "inline code": sorted(set(_CODE.findall(_MATH.sub("", text)))),
        "numbered items": [m.group(1) for m in (re.match(r"\s*(\d+)\. ", ln) for ln in lines) if m],
        "table rows": sum(1 for ln in lines if ln.lstrip().startswith("|")),
    }


def _resolved(target: str, where: pathlib.Path) -> str:
    """A link as the file it leads to, relative to the repository (web links and anchors as they are).

    A notebook counts as itself in either edition: the English 04 links to 09, its Hindi twin to the Hindi 09.
    """
    if re.match(r"[a-z]+://|#|mailto:", target):
        return target
    path, _, anchor = target.partition("#")
    full = (where.parent / path).resolve()
    if full.parent == NOTEBOOKS / "hi" and full.suffix == ".ipynb":
        full = NOTEBOOKS / full.name
    try:
        return str(full.relative_to(NOTEBOOKS.parent)) + (f"#{anchor}" if anchor else "")
    except ValueError:
        return str(full)


def _broken_links(text: str, where: pathlib.Path) -> list[str]:
    bad = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        if not (where.parent / target.split("#")[0]).exists():
            bad.append(target)
    return bad


def problems(english: pathlib.Path, hindi: pathlib.Path, en=None, hi=None) -> list[str]:
    """Everything that keeps hindi from being a faithful, current translation of english (empty: in step)."""
    en = nbformat.read(english, as_version=4) if en is None else en
    hi = nbformat.read(hindi, as_version=4) if hi is None else hi
    name = hindi.name
    if [c.cell_type for c in hi.cells] != [c.cell_type for c in en.cells]:
        return [f"{name}: cells differ in number or kind ({len(hi.cells)} Hindi, {len(en.cells)} English); "
                "align them by hand"]
    found = []
    for i, (a, b) in enumerate(zip(en.cells, hi.cells)):
        if a.cell_type == "code":
            if b.source != a.source:
                found.append(f"{name} cell {i}: code differs from the English (run tools/sync_hindi.py)")
            elif b.outputs != a.outputs:
                found.append(f"{name} cell {i}: stored outputs differ from the English (run tools/sync_hindi.py)")
            continue
        if not DEVANAGARI.search(b.source):
            found.append(f"{name} cell {i}: not translated")
            continue
        recorded = b.metadata.get("translation", {}).get("of")
        if recorded != fingerprint(a.source):
            found.append(f"{name} cell {i}: stale, the English changed since it was translated (translate it, "
                         f"then: python tools/sync_hindi.py --accept {name[:2]}:{i})")
        sa, sb = _structure(a.source, english), _structure(b.source, hindi)
        for part in sa:
            if sa[part] != sb[part]:
                found.append(f"{name} cell {i}: {part} differ: English {sa[part]!r}, Hindi {sb[part]!r}")
        for target in _broken_links(b.source, hindi):
            found.append(f"{name} cell {i}: link {target} does not resolve from notebooks/hi/")
    return found


def twins() -> list[tuple[pathlib.Path, pathlib.Path]]:
    return [(en, NOTEBOOKS / "hi" / en.name) for en in sorted(NOTEBOOKS.glob("*.ipynb"))]


def orphans() -> list[str]:
    """Hindi notebooks with no English twin."""
    english = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    hindi = sorted((NOTEBOOKS / "hi").glob("*.ipynb"))
    return [f"hi/{p.name}: no English twin" for p in hindi if p.name not in english]


def sync(english: pathlib.Path, hindi: pathlib.Path) -> None:
    """Copy code cells, their outputs and the notebook's teaching metadata into the Hindi twin."""
    en, hi = nbformat.read(english, as_version=4), nbformat.read(hindi, as_version=4)
    if [c.cell_type for c in hi.cells] != [c.cell_type for c in en.cells]:
        return
    for a, b in zip(en.cells, hi.cells):
        if a.cell_type == "code":
            b.source, b.outputs, b.execution_count = a.source, a.outputs, a.execution_count
            b.metadata = a.metadata
    teaching = en.metadata.get("fedavg", {})
    for key in ("minutes_to_run", "minutes_to_teach"):  # the same notebook takes the same time in either language
        if key in teaching:
            hi.metadata.setdefault("fedavg", {})[key] = teaching[key]
    nbformat.write(hi, hindi)


def accept(spec: str) -> None:
    """Record that Hindi markdown cells now translate the current English (spec: 'NN' or 'NN:cell')."""
    number, _, cell = spec.partition(":")
    matches = [(en, hi) for en, hi in twins() if en.name.startswith(number)]
    if len(matches) != 1:
        raise SystemExit(f"--accept {spec}: no single notebook starts with {number!r}")
    english, hindi = matches[0]
    en, hi = nbformat.read(english, as_version=4), nbformat.read(hindi, as_version=4)
    cells = [int(cell)] if cell else range(len(en.cells))
    for i in cells:
        if en.cells[i].cell_type == "markdown":
            hi.cells[i].metadata["translation"] = {"of": fingerprint(en.cells[i].source)}
    nbformat.write(hi, hindi)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accept", action="append", default=[], metavar="NN[:CELL]")
    args = parser.parse_args(argv)
    for spec in args.accept:
        accept(spec)
    todo = list(orphans())
    for english, hindi in twins():
        if not hindi.exists():
            todo.append(f"{hindi.name}: no Hindi edition yet (copy the English notebook and translate its markdown)")
            continue
        sync(english, hindi)
        todo += problems(english, hindi)
    for line in todo:
        print(line)
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main())
