"""make slides wrote a deck per notebook in both editions, each with several slides, loading nothing from the web."""
import pathlib
import re
import sys

import nbformat
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from tools import slides  # noqa: E402

DECKS = ROOT / "build" / "slides"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "hi").glob("*.ipynb"))
WEB = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)


def deck_of(path: pathlib.Path) -> pathlib.Path:
    return DECKS / ("hi" if path.parent.name == "hi" else "en") / f"{path.stem}.slides.html"


def top_level_slides(html: str) -> int:
    """The horizontal slides of a deck: <section> elements directly inside <div class="slides">."""
    body = html[html.index('<div class="slides">'):]
    depth, count = 0, 0
    for tag in re.findall(r"<(/?)section\b", body):
        if tag == "":
            count += depth == 0
            depth += 1
        else:
            depth -= 1
    return count


def web_addresses(html: str) -> list[str]:
    """Every web address in a deck outside a hyperlink's href (a link a reader may follow is not a download)."""
    without_links = re.sub(r"<a\s[^>]*href=\"[^\"]*\"", "<a", html)
    return WEB.findall(without_links)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_deck_per_notebook_with_several_slides_and_nothing_from_the_web(path):
    deck = deck_of(path)
    assert deck.exists(), f"no deck {deck}: run make slides"
    html = deck.read_text(encoding="utf-8")
    assert top_level_slides(html) > 1
    assert web_addresses(html) == []
    for local in re.findall(r'(?:src|href)="(\.\./_assets/[^"]+)"', html):
        assert (deck.parent / local).exists(), f"{deck.name} loads {local}, which make slides did not copy"


def test_the_stored_notebooks_are_not_tagged():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert not any("slideshow" in c.metadata for c in nb.cells), f"{path} was changed by make slides"


def test_headings_start_slides_and_code_follows_its_prose():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\ntext"), nbformat.v4.new_markdown_cell("## Step 1\n\nprose"),
        nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(x)"),
        nbformat.v4.new_markdown_cell("### Detail"), nbformat.v4.new_markdown_cell("More prose.")])
    kinds = [c.metadata["slideshow"]["slide_type"] for c in slides.tag(nb).cells]
    assert kinds == ["slide", "slide", "fragment", "subslide", "subslide", "subslide"]
    assert "slideshow" not in nb.cells[0].metadata  # tag works on a copy


def test_the_checks_catch_a_one_slide_deck_and_a_cdn(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Only a title"),
                                         nbformat.v4.new_code_cell("1 + 1")])
    path = tmp_path / "00_single.ipynb"
    nbformat.write(nb, path)
    html = slides.export(path, tmp_path / "00_single.slides.html")
    assert top_level_slides(html) == 1
    assert web_addresses(html) == []
    assert web_addresses(html.replace("../_assets/reveal.js/dist/reveal.js",
                                      "https://unpkg.com/reveal.js@4.0.2/dist/reveal.js")) != []
