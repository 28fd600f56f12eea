"""Every page and deck of the site, opened in headless Chromium as a reader would, shows nothing broken.

The browser reaches no host but 127.0.0.1 and has no Devanagari font of its own (see browser.py), so these pass
only if the site works offline and brings its own font. A screenshot of each page goes to build/site-screenshots.
"""

import browser
import pytest

from conftest import SCREENSHOTS, SITE

PAGES = browser.pages(SITE) if SITE.exists() else []
HINDI = ("hi/", "notebooks/hi/", "slides/hi/")


def shot_name(relative: str) -> str:
    return relative.replace("/", "__").removesuffix(".html") + ".png"


def test_the_site_has_both_editions_of_every_notebook_and_its_deck():
    names = [p.name for p in sorted((SITE.parents[1] / "notebooks").glob("*.ipynb"))]
    relative = {p.relative_to(SITE).as_posix() for p in PAGES}
    for name in names:
        stem = name.removesuffix(".ipynb")
        for page in (f"notebooks/{stem}.html", f"notebooks/hi/{stem}.html", f"slides/en/{stem}.slides.html",
                     f"slides/hi/{stem}.slides.html"):
            assert page in relative, f"{page} is missing from the site (make site)"
    assert {"index.html", "hi/index.html", "guide.html"} <= relative


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(SITE).as_posix())
def test_page_in_the_browser(page, driver, server):
    relative = page.relative_to(SITE).as_posix()
    problems = browser.inspect(driver, server.url + relative, SITE, server.url, SCREENSHOTS / shot_name(relative))
    assert problems == [], f"{relative}: " + "\n".join(problems)
    if relative.startswith(HINDI):
        measured = browser.devanagari_measured(driver)
        assert measured["measured"] > 0 and measured["font"], \
            f"{relative}: no Devanagari text was drawn with the site's font ({measured})"
    if relative.startswith("slides/"):
        total = driver.execute_script("return window.Reveal && Reveal.isReady() ? Reveal.getTotalSlides() : 0")
        assert total > 1, f"{relative}: reveal.js shows {total} slides"
    else:
        switch = driver.execute_script("const a = document.querySelector('nav.language-switch a');"
                                       "return a ? [a.lang, a.getAttribute('href')] : null")
        assert switch is not None, f"{relative}: no language switch"
        assert switch[0] == ("en" if relative.startswith(HINDI) else "hi"), f"{relative}: switch leads to {switch}"


def test_a_notebook_page_switches_to_its_own_translation(driver, server):
    driver.get(server.url + "notebooks/04_averaging.html")
    driver.find_element("css selector", "nav.language-switch a").click()
    assert driver.current_url.endswith("notebooks/hi/04_averaging.html")
    assert driver.execute_script("return document.documentElement.lang") == "hi"
    driver.find_element("css selector", "nav.language-switch a").click()
    assert driver.current_url.endswith("notebooks/04_averaging.html")


def test_math_is_typeset_and_figures_are_drawn(driver, server):
    driver.get(server.url + "notebooks/04_averaging.html")
    browser.devanagari_measured(driver)  # waits for fonts and MathJax
    assert driver.execute_script("return document.querySelectorAll('mjx-container svg').length") > 0
    driver.get(server.url + "notebooks/05_fedavg_on_digits.html")
    sizes = driver.execute_script("return [...document.images].filter(i => i.src.includes('_images/'))"
                                  ".map(i => i.naturalWidth)")
    assert len(sizes) >= 3 and min(sizes) > 100
    assert driver.execute_script("return document.querySelectorAll('table').length") > 0
