"""Sphinx configuration of the series' site: both editions rendered from their stored outputs, nothing executed.

tools/build_site.py writes the sources (notebook copies, landing pages, guide, solution pages) into build/site-src
and runs sphinx-build with this folder as the configuration directory.
"""
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
import offline_assets  # noqa: E402

project = "Federated learning with model averaging"
author = "fedavg-notebooks"
copyright = "the fedavg-notebooks authors"
language = "en"

extensions = ["myst_nb"]
nb_execution_mode = "off"  # the stored outputs are the lesson; the site never runs a notebook
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # a notebook may start at a level-2 heading after its title cell

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["fedavg.css"]
templates_path = ["_templates"]
html_theme_options = {"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False,
                      "article_header_start": ["toggle-primary-sidebar.html", "language-switch.html"]}
html_use_index = False
html_context = {"default_mode": "light"}  # the theme logs an error on a first visit without it
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
html_copy_source = False
# MathJax from a local copy in _static/mathjax (SVG output needs no web fonts); no CDN
mathjax_path = "mathjax/" + offline_assets.mathjax().name


def twin(docname: str, docnames) -> str:
    """The page of the other edition: a notebook's translation, else the other edition's landing page."""
    if docname.startswith("notebooks/hi/"):
        other = "notebooks/" + docname.removeprefix("notebooks/hi/")
    elif docname.startswith("notebooks/"):
        other = "notebooks/hi/" + docname.removeprefix("notebooks/")
    else:
        other = "index" if is_hindi(docname) else "hi/index"
    return other if other in docnames else ("index" if is_hindi(docname) else "hi/index")


def is_hindi(docname: str) -> bool:
    return docname.startswith(("hi/", "notebooks/hi/"))


def language_switch(app, pagename, templatename, context, doctree):
    """Every page's header links to the same page in the other edition, and Hindi pages say lang="hi"."""
    target = twin(pagename, app.env.found_docs)
    href = app.builder.get_relative_uri(pagename, target)
    label, lang = ("English", "en") if is_hindi(pagename) else ("हिन्दी", "hi")
    context["language_switch"] = (f'<nav class="language-switch" aria-label="language"><a href="{href}" '
                                  f'hreflang="{lang}" lang="{lang}">{label}</a></nav>')
    if is_hindi(pagename):
        context["language"] = "hi"


def copy_assets(app, exception):
    """MathJax, and Noto Sans Devanagari (SIL OFL 1.1, licence alongside) so Hindi renders without a system font."""
    if exception is not None or app.builder.format != "html":
        return
    static = pathlib.Path(app.outdir) / "_static"
    (static / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(offline_assets.mathjax(), static / "mathjax" / offline_assets.mathjax().name)
    offline_assets.copy_font(static / "fonts")


def setup(app):
    app.connect("html-page-context", language_switch)
    app.connect("build-finished", copy_assets)
