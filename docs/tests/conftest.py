"""The built site (make site) served on 127.0.0.1, and one headless Chromium for all the browser tests."""
import pathlib
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import browser  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
SCREENSHOTS = ROOT / "build" / "site-screenshots"


@pytest.fixture(scope="session")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no site in {SITE}: run make site (make test-site builds it first)")
    return SITE


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    missing = browser.missing_browser()
    if missing:
        pytest.fail(missing)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's pages
    chrome = browser.chromium(browser.fontconfig_without_devanagari(tmp_path_factory.mktemp("fontconfig")))
    yield chrome
    chrome.quit()


@pytest.fixture(scope="session")
def server(site):
    running = browser.Server(site)
    yield running
    running.close()
