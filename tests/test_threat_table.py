"""The threat-model table is one table: the README's rows, word for word, in notebooks 06 and 07."""
import pathlib
import re

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = "| defence | who sees one owner's model | the model owner gets | it does not stop |"


def table(text: str) -> list[str]:
    """The rows of the table that starts with HEADER in text."""
    start = text.index(HEADER)
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append(line.rstrip())
    return rows


def test_the_readme_has_the_table_with_every_defence():
    rows = table((ROOT / "README.md").read_text())
    defences = [re.match(r"\| ([^|]+) \|", row).group(1) for row in rows[2:]]
    assert defences[:2] == ["default policy (01-04)", "strict policy (05, 06)"] and len(defences) >= 6


@pytest.mark.parametrize("name", ["06_secure_aggregation.ipynb", "07_privacy_and_robustness.ipynb"])
def test_each_notebook_shows_the_readmes_rows(name):
    readme = table((ROOT / "README.md").read_text())
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and HEADER in c.source]
    assert cells, f"{name} has no threat-model table"
    assert table(cells[0]) == readme, f"{name}'s threat-model table differs from the README's: copy its rows"


ADVERSARY = "| adversary | secure worker (03-05) | + secure aggregation (06) | + distributed DP (09) |"


def test_the_adversary_view_of_notebook_09_is_the_readmes():
    readme = (ROOT / "README.md").read_text()
    nb = nbformat.read(ROOT / "notebooks" / "09_what_an_update_gives_away.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and ADVERSARY in c.source]
    assert cells and ADVERSARY in readme
    rows = [line for line in cells[0][cells[0].index(ADVERSARY):].splitlines()]
    rows = rows[:next((i for i, line in enumerate(rows) if not line.startswith("|")), len(rows))]
    assert len(rows) == 6 and all(row in readme.splitlines() for row in rows)
