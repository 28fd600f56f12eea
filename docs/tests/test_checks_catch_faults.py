"""Each check of the browser test fails on a page mutated to have the fault it looks for (copies, never the site)."""
import shutil

import browser
import pytest

TRACEBACK = ('<div class="cell_output docutils container">'
             '<div class="output traceback highlight-ipythontb notranslate">'
             '<div class="highlight"><pre>ZeroDivisionError: division by zero</pre></div></div></div>')


@pytest.fixture(scope="module")
def mutated(site, tmp_path_factory):
    """A copy of the site to break, served on its own port."""
    root = tmp_path_factory.mktemp("mutated") / "site"
    shutil.copytree(site, root)
    server = browser.Server(root)
    yield root, server
    server.close()


def break_page(root, page, before="</body>", insert=""):
    path = root / page
    html = path.read_text(encoding="utf-8")
    assert before in html
    path.write_text(html.replace(before, insert + before, 1), encoding="utf-8")


def problems(driver, mutated, page):
    root, server = mutated
    return browser.inspect(driver, server.url + page, root, server.url)


def test_the_unmutated_copy_is_clean(driver, mutated):
    assert problems(driver, mutated, "notebooks/01_data_splitting.html") == []


def test_a_broken_link_and_a_missing_anchor(driver, mutated):
    break_page(mutated[0], "notebooks/01_data_splitting.html",
               insert='<a href="nowhere.html">x</a><a href="02_local_training.html#no-such-section">y</a>')
    found = problems(driver, mutated, "notebooks/01_data_splitting.html")
    assert any("broken link" in p and p.endswith("nowhere.html") for p in found)
    assert any("broken link" in p and "#no-such-section" in p for p in found)


def test_a_missing_image(driver, mutated):
    page = mutated[0] / "notebooks/05_fedavg_on_digits.html"
    html = page.read_text(encoding="utf-8")
    first = html.index('src="../_images/') + len('src="../_images/')
    page.write_text(html[:first] + "gone-" + html[first:], encoding="utf-8")
    found = problems(driver, mutated, "notebooks/05_fedavg_on_digits.html")
    assert any(p.startswith("image not shown: ../_images/gone-") for p in found)


def test_an_error_output(driver, mutated):
    break_page(mutated[0], "notebooks/02_local_training.html", before="</article>", insert=TRACEBACK)
    found = problems(driver, mutated, "notebooks/02_local_training.html")
    assert any(p.startswith("error output: ZeroDivisionError") for p in found)


def test_a_console_error_and_a_script_from_the_network(driver, mutated):
    break_page(mutated[0], "notebooks/03_moving_to_secure_worker.html",
               insert='<script>console.error("a mutated page");</script>'
                      '<script src="https://cdn.example.org/library.js"></script>')
    found = problems(driver, mutated, "notebooks/03_moving_to_secure_worker.html")
    assert any("console" in p and "a mutated page" in p for p in found)
    assert any("console" in p and "cdn.example.org" in p for p in found)


def test_devanagari_without_the_sites_font_is_caught(driver, mutated):
    css = mutated[0] / "_static" / "fedavg.css"
    css.write_text(css.read_text(encoding="utf-8").replace("fonts/NotoSansDevanagari.ttf", "fonts/gone.ttf"),
                   encoding="utf-8")
    found = problems(driver, mutated, "notebooks/hi/04_averaging.html")
    assert any(p.startswith("Devanagari drawn as empty boxes in 40 of 40 places") for p in found), found
    assert not browser.devanagari_measured(driver)["font"]


def test_a_deck_without_its_font_is_caught(driver, mutated):
    deck = mutated[0] / "slides" / "hi" / "01_data_splitting.slides.html"
    deck.write_text(deck.read_text(encoding="utf-8").replace("fonts/NotoSansDevanagari.ttf", "fonts/gone.ttf"),
                    encoding="utf-8")
    found = problems(driver, mutated, "slides/hi/01_data_splitting.slides.html")
    assert any(p.startswith("Devanagari drawn as empty boxes") for p in found), found
