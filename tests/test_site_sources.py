"""make site's sources: links to repository files become links to their pages, a link to nothing stops the build,
and every notebook of both editions and every solution gets a page (Sphinx itself runs in make test-site)."""
import pathlib

import nbformat
import pytest

from tools import build_site

ROOT = pathlib.Path(__file__).resolve().parent.parent
EN, HI = ROOT / "notebooks" / "04_averaging.ipynb", ROOT / "notebooks" / "hi" / "04_averaging.ipynb"


def test_links_to_solutions_lead_to_their_pages_in_both_editions():
    linked = set()
    text = "[a](../solutions/nb04_averaging.py) [b](03_moving_to_secure_worker.ipynb) [c](https://example.org/x)"
    assert build_site.rewrite_links(text, EN, "notebooks", linked) == (
        "[a](../solutions/nb04_averaging.py.md) [b](03_moving_to_secure_worker.ipynb) [c](https://example.org/x)")
    hindi = build_site.rewrite_links("[a](../../solutions/nb04_averaging.py#L3)", HI, "notebooks/hi", linked)
    assert hindi == "[a](../../solutions/nb04_averaging.py.md#L3)"
    assert linked == {ROOT / "solutions" / "nb04_averaging.py"}


def test_a_link_to_nothing_stops_the_build_and_names_the_notebook():
    with pytest.raises(build_site.SiteError, match=r"notebooks/04_averaging.ipynb: link \.\./solutions/nb99\.py"):
        build_site.rewrite_links("[x](../solutions/nb99.py)", EN, "notebooks", set())


def test_every_notebook_and_solution_gets_a_page(tmp_path):
    src = tmp_path / "src"
    build_site.write_sources(src, slides=False)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for copy in (src / "notebooks" / path.name, src / "notebooks" / "hi" / path.name):
            nb = nbformat.read(copy, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            assert ".py)" not in text and ".py#" not in text, f"{copy} still links a .py file"
    for solution in sorted((ROOT / "solutions").glob("*.py")):
        page = src / "solutions" / f"{solution.name}.md"
        assert page.exists() and (src / "solutions" / solution.name).read_text() == solution.read_text()
    index = (src / "index.md").read_text(encoding="utf-8")
    assert "(solutions/nb04_averaging.py.md)" in index and "/hi/index" in index
    assert (src / "hi" / "index.md").exists() and (src / "guide.md").exists()


def test_the_readme_is_a_rendered_page_whose_sections_links_can_reach(tmp_path):
    readme = ROOT / "README.md"
    link = "../README.md#threat-model-who-sees-what-and-what-each-defence-does-not-stop"
    assert build_site.rewrite_links(f"[t]({link})", EN, "notebooks", set()) == f"[t]({link})"
    build_site.markdown_page(tmp_path, readme)
    page = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "### Threat model: who sees what, and what each defence does not stop" in page
    assert "](hi/index.md)" in page and "](notebooks/hi/)" not in page  # the Hindi folder: its landing page
    assert "](notebooks/04_averaging.ipynb)" in page


def test_a_markdown_page_linking_to_what_the_site_lacks_stops_the_build(tmp_path, monkeypatch):
    page = tmp_path / "repo.md"
    page.write_text("[x](benchmarks/)")
    monkeypatch.setattr(build_site, "ROOT", tmp_path)
    with pytest.raises(build_site.SiteError, match="repo.md: link benchmarks/ leads to nothing the site shows"):
        build_site.markdown_page(tmp_path / "out", page)


def test_a_decks_links_lead_to_the_sites_pages():
    from tools import slides
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "[t](../README.md#threat-model) [s](../solutions/nb04_averaging.py) [n](03_moving_to_secure_worker.ipynb)")])
    text = slides.rewrite_links(nb, EN).cells[0].source
    assert text == ("[t](../../README.html#threat-model) [s](../../solutions/nb04_averaging.py.html) "
                    "[n](03_moving_to_secure_worker.slides.html)")
