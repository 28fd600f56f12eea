"""Every notebook states, in its metadata and at its top, what it teaches, what it needs and how long it takes.

metadata["fedavg"] = {"objectives": [...], "prerequisites": [...], "minutes_to_run": m, "minutes_to_teach": t};
the landing page, the teacher's guide and the README's table are made from it, so it must be there, agree
between the two editions, and match what the notebook's first cell tells the reader.
"""
import pathlib
import re

import nbformat
import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
ENGLISH = sorted(NOTEBOOKS.glob("*.ipynb"))
KEYS = {"objectives", "prerequisites", "minutes_to_run", "minutes_to_teach"}


def meta(path):
    return nbformat.read(path, as_version=4).metadata.get("fedavg", {})


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_metadata_is_complete_and_the_same_in_both_editions(english):
    en, hi = meta(english), meta(NOTEBOOKS / "hi" / english.name)
    assert KEYS <= en.keys() and KEYS <= hi.keys(), f"missing: {KEYS - en.keys()} / {KEYS - hi.keys()}"
    assert 3 <= len(en["objectives"]) <= 7 and len(hi["objectives"]) == len(en["objectives"])
    assert len(hi["prerequisites"]) == len(en["prerequisites"])
    assert en["minutes_to_run"] == hi["minutes_to_run"] and en["minutes_to_teach"] == hi["minutes_to_teach"]
    assert 0 < en["minutes_to_run"] <= 2 and 5 <= en["minutes_to_teach"] <= 90


@pytest.mark.parametrize("path", ENGLISH + sorted((NOTEBOOKS / "hi").glob("*.ipynb")),
                         ids=lambda p: p.parent.name + "/" + p.name)
def test_the_first_cell_states_the_times_and_every_objective(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    m = nb.metadata["fedavg"]
    numbers = set(re.findall(r"\d+(?:\.\d+)?", first))
    assert f"{m['minutes_to_teach']:g}" in numbers and f"{m['minutes_to_run']:g}" in numbers, \
        "the first cell states the minutes to teach and to run from the metadata"
    for objective in m["objectives"]:
        assert objective in first, f"objective not in the first cell: {objective!r}"
