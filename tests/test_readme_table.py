"""The README's table of notebooks is the one the notebooks' metadata makes (tools/readme_table.py)."""
import pathlib

from tools import readme_table, teaching

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fake(number, name, title, meta=None):
    return teaching.Notebook(ROOT / "notebooks" / name, number, title, meta)


def test_the_readme_table_matches_the_metadata():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table.rewrite(text, teaching.load()) == text, \
        "README.md's notebook table differs from the notebooks' metadata: run .venv/bin/python tools/readme_table.py"


def test_a_changed_objective_or_minute_makes_the_table_stale():
    meta = {"objectives": ["split data", "use pointers", "fetch what is allowed"], "prerequisites": [],
            "minutes_to_run": 1, "minutes_to_teach": 25}
    notebooks = [fake("01", "01_data_splitting.ipynb", "01 · Data splitting: workers", meta)]
    text = readme_table.rewrite(f"intro\n{readme_table.START}\nold\n{readme_table.END}\nrest\n", notebooks)
    assert "| 01 | [Data splitting](notebooks/01_data_splitting.ipynb) | split data; use pointers; fetch what " \
           "is allowed | 25 | 1 |" in text
    assert text.startswith("intro\n") and text.endswith("\nrest\n")
    assert readme_table.rewrite(text, notebooks) == text
    changed = dict(meta, minutes_to_teach=30)
    assert readme_table.rewrite(text, [fake("01", "01_data_splitting.ipynb", "01 · Data splitting", changed)]) != text


def test_a_notebook_without_metadata_keeps_its_description():
    row = "| 01 | [Data splitting](notebooks/01_data_splitting.ipynb) | pointers |"
    old = f"{readme_table.START}\n{row}\n{readme_table.END}"
    text = readme_table.rewrite(old, [fake("01", "01_data_splitting.ipynb", "01 · Data splitting")])
    assert "| pointers | – | – |" in text
