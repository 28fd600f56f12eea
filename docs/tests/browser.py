"""Open pages of the built site in Debian's headless Chromium and report what a reader would find wrong.

A page is served from a local HTTP server (127.0.0.1), the browser resolves no other host (so anything fetched
from the network fails and shows as a console error), and fontconfig offers it only DejaVu: a machine with no
Devanagari font, where Hindi renders only if the site's own web font works.
"""
import functools
import http.server
import os
import pathlib
import threading
import urllib.parse
from html.parser import HTMLParser

CHROMIUM, CHROMEDRIVER = pathlib.Path("/usr/bin/chromium"), pathlib.Path("/usr/bin/chromedriver")
NO_DEVANAGARI_FONTS = pathlib.Path("/usr/share/fonts/truetype/dejavu")
TOFU = "\u0378"  # an unassigned code point: no font has it, so every browser draws the empty box for it


def missing_browser() -> str | None:
    """What is missing to drive Chromium here, with how to install it (None: nothing)."""
    gone = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        gone.append("selenium (make site-setup)")
    if not gone:
        return None
    return (f"missing {', '.join(gone)}: as root run make browser (apt-get install chromium chromium-driver), "
            "then make test-site")


def fontconfig_without_devanagari(folder: pathlib.Path) -> pathlib.Path:
    """A fontconfig file that offers only DejaVu fonts (no Devanagari), with the system's rules for generic names
    (sans-serif, monospace), written into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>{NO_DEVANAGARI_FONTS}</dir>
  <cachedir>{folder / "cache"}</cachedir>
  <include ignore_missing="yes">/etc/fonts/conf.d</include>
</fontconfig>
""", encoding="utf-8")
    return conf


class Server:
    """A static HTTP server for one folder on 127.0.0.1, in a thread."""

    def __init__(self, root: pathlib.Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.root = root
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium(fontconfig: pathlib.Path, width: int = 1280, height: int = 1600):
    """A headless Chromium (selenium, Debian's chromedriver) that reaches only 127.0.0.1 and sees only DejaVu."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not look for or download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--hide-scrollbars", "--force-device-scale-factor=1",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {**os.environ, "FONTCONFIG_FILE": str(fontconfig)}
    service = Service(executable_path=str(CHROMEDRIVER), env=env)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # a page is read as it is now
    return driver


# Waits for web fonts and MathJax, then draws every visible Devanagari text (up to 40) on a canvas in its element's
# font, and again with each Devanagari character replaced by an empty box: identical pixels mean empty boxes.
_DEVANAGARI_JS = """
const done = arguments[arguments.length - 1];
const tofu = arguments[0];
(async () => {
  await document.fonts.ready;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const ctx = document.createElement("canvas").getContext("2d", {willReadFrequently: true});
  const draw = (text, font) => {
    ctx.font = font;
    const width = Math.ceil(ctx.measureText(text).width) + 4;
    ctx.canvas.width = width; ctx.canvas.height = 64;
    ctx.font = font; ctx.textBaseline = "top"; ctx.fillStyle = "#000";
    ctx.fillText(text, 2, 8);
    return ctx.getImageData(0, 0, width, 64).data;
  };
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  let boxes = 0, measured = 0;
  while (walker.nextNode() && measured < 40) {
    const parent = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent;
    const sample = (text.match(/[\\u0900-\\u097F][\\u0900-\\u097F ]{2,30}/) || [""])[0].trim();
    if (sample.length < 3 || !parent || parent.getClientRects().length === 0) continue;
    const style = getComputedStyle(parent);
    const font = `${style.fontStyle} ${style.fontWeight} 24px ${style.fontFamily}`;
    measured += 1;
    if (same(draw(sample, font), draw(sample.replace(/[\\u0900-\\u097F]/g, tofu), font))) {
      boxes += 1; found.push(sample);
    }
  }
  done({measured: measured, boxes: boxes, examples: found.slice(0, 3),
        font: document.fonts.check('16px "Noto Sans Devanagari"', "\\u0915")});
})().catch((e) => done({error: String(e)}));
"""

_PAGE_JS = """
const broken = [...document.images].filter((img) => img.complete && img.naturalWidth === 0 && img.offsetParent)
  .map((img) => img.getAttribute("src"));
const links = [...document.querySelectorAll("a[href]")].map((a) => a.href);
const errors = [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim().slice(0, 120));
return {broken: broken, links: links, errors: errors};
"""

# where a rendered error output shows: myst-nb's traceback block; nbconvert's stderr output with a Python error
ERROR_OUTPUTS = ("div.cell_output .traceback, div.cell_output .output.error, "
                 ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def inspect(driver, url: str, root: pathlib.Path, base_url: str, screenshot: pathlib.Path | None = None) -> list[str]:
    """Everything wrong with the page at url: console errors, broken images and links, error outputs, boxes."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    driver.set_script_timeout(30)
    fonts = driver.execute_async_script(_DEVANAGARI_JS, TOFU)
    page = driver.execute_script(_PAGE_JS, ERROR_OUTPUTS)
    problems = [f"console: {entry['message']}" for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    problems += [f"image not shown: {src}" for src in page["broken"]]
    problems += [f"error output: {text}" for text in page["errors"]]
    problems += [f"broken link: {link}" for link in page["links"] if not link_target_exists(link, root, base_url)]
    if "error" in fonts:
        problems.append(f"could not measure Devanagari: {fonts['error']}")
    elif fonts["boxes"]:
        problems.append(f"Devanagari drawn as empty boxes in {fonts['boxes']} of {fonts['measured']} places, "
                        f"e.g. {fonts['examples']}")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    return problems


def devanagari_measured(driver) -> dict:
    """On the current page: how many Devanagari texts were measured, how many are boxes, and the font's state."""
    return driver.execute_async_script(_DEVANAGARI_JS, TOFU)


@functools.cache
def _ids(path: pathlib.Path) -> frozenset:
    collector = _IdCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.ids)


class _IdCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


def link_target_exists(link: str, root: pathlib.Path, base_url: str) -> bool:
    """A link within the site leads to a file that exists, and to its anchor if it names one; others pass."""
    if not link.startswith(base_url):
        return not link.startswith(("http://127.0.0.1", "file:"))
    parsed = urllib.parse.urlsplit(link)
    relative = urllib.parse.unquote(parsed.path)[len(urllib.parse.urlsplit(base_url).path):]
    target = root / relative
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return False
    anchor = parsed.fragment  # the browser looks for the id as written, then percent-decoded
    if anchor.startswith("/") and target.name.endswith(".slides.html"):
        return True  # reveal.js's own route to a slide, e.g. #/3
    return not (anchor and target.suffix == ".html") or bool({anchor, urllib.parse.unquote(anchor)} & _ids(target))


def pages(root: pathlib.Path) -> list[pathlib.Path]:
    """Every HTML page of the site, decks included (the theme's template files under _static are not pages)."""
    return sorted(p for p in root.rglob("*.html") if not p.relative_to(root).parts[0].startswith("_")
                  and "_assets" not in p.relative_to(root).parts)
