"""The notebooks' teaching metadata (title, objectives, prerequisites, minutes), as the site, guide and README use it.

Each notebook keeps metadata["fedavg"] = {"objectives": [...], "prerequisites": [...], "minutes_to_run": m,
"minutes_to_teach": t}; the Hindi twin has the same keys, its lists translated. A notebook without it is still
listed, with `problem` saying what is missing, so every page built from here degrades instead of failing.
"""
import dataclasses
import pathlib
import re

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KEYS = ("objectives", "prerequisites", "minutes_to_run", "minutes_to_teach")


@dataclasses.dataclass
class Notebook:
    """One notebook of the series and its Hindi twin, with what a teacher needs to plan it."""

    path: pathlib.Path
    number: str
    title: str
    meta: dict | None  # the English metadata["fedavg"], None when incomplete (see problem)
    title_hi: str | None = None
    meta_hi: dict | None = None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def requires(self, numbers) -> list[str]:
        """The numbers of earlier notebooks its prerequisites name ('notebook 03', 'notebooks 01-04', '03_...')."""
        found = set().union(*(notebook_refs(text) for text in (self.meta or {}).get("prerequisites", [])))
        return sorted(n for n in found if n in numbers and n < self.number)


def notebook_refs(text: str) -> set[str]:
    """Two-digit notebook numbers a prerequisite names: '03_moving...', 'notebooks 01-04, 06', 'notebooks 01 to 03'."""
    found = set(re.findall(r"\b(\d{2})_\w+", text))
    for words in re.findall(r"(?:notebooks?|नोटबुक)\s+((?:\d{1,2}|[\s,–-]|and|to|और|से|तक)+)", text, flags=re.I):
        for lo, hi in re.findall(r"(\d{1,2})\s*(?:[–-]|to|से)\s*(\d{1,2})", words):
            found |= {f"{n:02d}" for n in range(int(lo), int(hi) + 1)}
        found |= {f"{int(n):02d}" for n in re.findall(r"\d{1,2}", words)}
    return found


def title_of(nb) -> str:
    """The notebook's first '# ' heading, without the hashes."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def incomplete(meta) -> str | None:
    """What keeps a metadata["fedavg"] from being usable (None: complete)."""
    if not meta:
        return 'no metadata["fedavg"]'
    missing = [key for key in KEYS if key not in meta]
    if missing:
        return f'metadata["fedavg"] lacks {", ".join(missing)}'
    return None


def load(folder: pathlib.Path = NOTEBOOKS) -> list[Notebook]:
    """Every English notebook in folder, in order, with its Hindi twin's title and metadata where present."""
    notebooks = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        meta = dict(nb.metadata.get("fedavg", {}))
        entry = Notebook(path, path.name[:2], title_of(nb) or path.stem, None)
        twin = folder / "hi" / path.name
        hi_meta = {}
        if twin.exists():
            hi = nbformat.read(twin, as_version=4)
            entry.title_hi, hi_meta = title_of(hi) or None, dict(hi.metadata.get("fedavg", {}))
        entry.problem = incomplete(meta)
        if entry.problem is None:
            entry.meta = meta
            entry.meta_hi = hi_meta if incomplete(hi_meta) is None else None
        notebooks.append(entry)
    return notebooks


def warnings(notebooks: list[Notebook]) -> list[str]:
    """One line per notebook whose metadata is missing, saying how to add it."""
    return [f"{nb.name}: {nb.problem}; pages built from the metadata show its title only (add objectives, "
            "prerequisites, minutes_to_run and minutes_to_teach: tests/test_notebook_metadata.py)"
            for nb in notebooks if nb.problem]
