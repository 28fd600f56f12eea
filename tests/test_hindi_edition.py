"""The Hindi edition has every English notebook, cell for cell: identical code and outputs, and prose that is
translated, current (not stale since the English changed), structurally faithful, and in one vocabulary."""
import copy
import importlib.util
import pathlib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ENGLISH = sorted(NOTEBOOKS.glob("*.ipynb"))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_hindi, glossary = _load("sync_hindi"), _load("hindi_glossary")


def test_there_are_notebooks_and_no_hindi_orphans():
    assert len(ENGLISH) >= 7
    assert sync_hindi.orphans() == []


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_hindi_twin_is_in_step(english):
    hindi = NOTEBOOKS / "hi" / english.name
    assert hindi.exists(), f"missing Hindi edition {hindi}"
    assert sync_hindi.problems(english, hindi) == []


@pytest.mark.parametrize("path", ENGLISH + sorted((NOTEBOOKS / "hi").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "execute it: tools/run_notebooks.py --inplace"


def hindi_prose(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("hindi", sorted((NOTEBOOKS / "hi").glob("*.ipynb")), ids=lambda p: p.name)
def test_one_vocabulary(hindi):
    text = hindi_prose(hindi).replace(glossary.markdown_table(), "")  # the glossary itself names the old words
    for english, preferred, _, instead_of in glossary.GLOSSARY:
        for wrong in instead_of:
            assert wrong not in text, \
                f"{hindi.name}: {wrong!r} for {english!r}; the series says {preferred!r} (tools/hindi_glossary.py)"


def test_notebook_01_shows_the_glossary():
    assert glossary.markdown_table() in hindi_prose(NOTEBOOKS / "hi" / "01_data_splitting.ipynb")


# ---- the checks themselves fail on what they are meant to catch (mutated copies) ----

def pair(name="04_averaging.ipynb"):
    en = nbformat.read(NOTEBOOKS / name, as_version=4)
    hi = nbformat.read(NOTEBOOKS / "hi" / name, as_version=4)
    return en, hi


def markdown_index(nb, containing):
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and containing in c.source)


def check(en, hi, name="04_averaging.ipynb"):
    return sync_hindi.problems(NOTEBOOKS / name, NOTEBOOKS / "hi" / name, en=en, hi=hi)


def test_an_english_edit_makes_the_hindi_cell_stale():
    en, hi = pair()
    i = markdown_index(en, "## Recap")
    en.cells[i].source += "\n\nOne more sentence."
    assert any(f"cell {i}: stale" in p for p in check(en, hi))


def test_a_deleted_heading_is_caught():
    en, hi = pair()
    i = markdown_index(en, "## Recap")
    hi.cells[i].source = hi.cells[i].source.replace("## ", "", 1)
    assert any(f"cell {i}: headings differ" in p for p in check(en, hi))


def test_a_deleted_exercise_is_caught():
    en, hi = pair()
    i = markdown_index(en, "## Exercises")
    lines = hi.cells[i].source.splitlines()
    hi.cells[i].source = "\n".join(ln for ln in lines if not ln.startswith("3. "))
    assert any(f"cell {i}: numbered items differ" in p for p in check(en, hi))


def test_dropped_code_math_links_and_rows_are_caught():
    en, hi = pair()
    i = markdown_index(en, "## From PySyft 0.2")
    mutated = copy.deepcopy(hi)
    mutated.cells[i].source = mutated.cells[i].source.replace("`fh.secure_average`", "fh.secure_average", 1)
    assert any("inline code differ" in p for p in check(en, mutated))
    mutated = copy.deepcopy(hi)
    table_row = next(ln for ln in mutated.cells[i].source.splitlines() if ln.startswith("| `bobs_opt.zero_grad()`"))
    mutated.cells[i].source = mutated.cells[i].source.replace(table_row + "\n", "")
    assert any("table rows differ" in p for p in check(en, mutated))
    j = markdown_index(en, "## Exercises")
    mutated = copy.deepcopy(hi)
    mutated.cells[j].source = mutated.cells[j].source.replace("solutions/nb04_averaging.py)", "solutions/nb99.py)")
    found = check(en, mutated)
    assert any("links differ" in p for p in found) and any("does not resolve" in p for p in found)
    k = markdown_index(en, "## Step 6 of the seed")
    mutated = copy.deepcopy(hi)
    mutated.cells[k].source = mutated.cells[k].source.replace("$$", "", 2)
    assert any("math differ" in p for p in check(en, mutated))


def test_changed_code_and_a_missing_twin_are_caught(tmp_path):
    en, hi = pair()
    i = next(i for i, c in enumerate(hi.cells) if c.cell_type == "code")
    hi.cells[i].source += "\nprint('extra')"
    assert any(f"cell {i}: code differs" in p for p in check(en, hi))
    hi.cells.pop()
    assert "cells differ in number" in check(en, hi)[0]


def test_a_link_to_another_notebook_leads_to_it_in_the_readers_edition():
    english, hindi = NOTEBOOKS / "04_averaging.ipynb", NOTEBOOKS / "hi" / "04_averaging.ipynb"
    target = "09_what_an_update_gives_away.ipynb"
    assert sync_hindi._resolved(target, hindi) == sync_hindi._resolved(target, english)  # each to its own 09
    assert sync_hindi._resolved("08_real_processes.ipynb", hindi) != sync_hindi._resolved(target, english)
    assert sync_hindi._resolved("../09_what_an_update_gives_away.ipynb", hindi) == "notebooks/" + target
