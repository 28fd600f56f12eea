"""Write a reveal.js deck per notebook with nbconvert's slides exporter, offline; the notebooks stay untouched.

    python tools/slides.py --out build/slides notebooks/*.ipynb notebooks/hi/*.ipynb      (make slides)

A copy of each notebook is tagged for slides from its structure (see `tag`), then exported with the template in
docs/slides_template, which loads reveal.js, MathJax and the Devanagari font from build/slides/_assets (copied
there from pinned packages) instead of from a CDN. Decks go to <out>/en/ and <out>/hi/, named NN_name.slides.html;
make site puts them in the site's slides/ folder, so a link to a solution leads to the site's page for it.
"""
import argparse
import copy
import pathlib
import re
import shutil
import sys

import nbformat
from nbconvert import SlidesExporter

try:
    from tools import build_site, offline_assets
except ImportError:  # run as a script from tools/
    import build_site
    import offline_assets

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "docs" / "slides_template"


def heading_level(cell) -> int:
    """The level of the heading a markdown cell starts with (0: none)."""
    first = cell.source.lstrip().split("\n", 1)[0]
    hashes = len(first) - len(first.lstrip("#"))
    return hashes if hashes and first[hashes:hashes + 1] == " " else 0


def tag(nb):
    """A copy of nb whose cells carry slide types: '#'/'##' headings start slides, deeper headings and other prose
    start sub-slides, and a code cell (with its output) appears as a fragment under the prose that announces it,
    or as a sub-slide of its own after another code cell."""
    nb = copy.deepcopy(nb)
    previous = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            level = heading_level(cell)
            kind = "slide" if index == 0 or 1 <= level <= 2 else "subslide"
        elif cell.cell_type == "code":
            kind = "fragment" if previous == "markdown" else "subslide"
        else:
            kind = "skip"
        cell.metadata["slideshow"] = {"slide_type": kind}
        previous = cell.cell_type
    return nb


def rewrite_links(nb, path: pathlib.Path):
    """Links to notebooks lead to their decks; links to other repository files to their pages on the site."""
    site = "../../"  # a deck sits in slides/<language>/ of the site

    def replace(match):
        target, anchor = match.group(1).partition("#")[::2]
        full = (path.parent / target).resolve()
        if re.match(r"[a-z]+://|mailto:", target) or not target or ROOT not in full.parents:
            return match.group(0)
        if full.suffix == ".ipynb":
            return f"]({full.stem}.slides.html{'#' + anchor if anchor else ''})"
        page = build_site.page_for(full).removesuffix(".md") + ".html"  # the site's page for the file
        return f"]({site}{page}{'#' + anchor if anchor else ''})"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\(([^)\s]+)\)", replace, cell.source)
    return nb


def copy_assets(out: pathlib.Path) -> pathlib.Path:
    """reveal.js, MathJax and the font into out/_assets (what the decks load); that folder."""
    assets = out / "_assets"
    if assets.exists():
        shutil.rmtree(assets)
    shutil.copytree(offline_assets.reveal(), assets / "reveal.js",
                    ignore=shutil.ignore_patterns("*.esm.js", "*.map", "css"))
    (assets / "mathjax").mkdir()
    shutil.copyfile(offline_assets.mathjax(), assets / "mathjax" / offline_assets.mathjax().name)
    offline_assets.copy_font(assets / "fonts")
    return assets


def export(path: pathlib.Path, target: pathlib.Path) -> str:
    """Write the deck of the notebook at path to target; the HTML."""
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATE.parent)], template_name=TEMPLATE.name,
                              reveal_url_prefix="../_assets/reveal.js",
                              reveal_theme="white", reveal_transition="none", reveal_number="c/t")
    nb = rewrite_links(tag(nbformat.read(path, as_version=4)), path)
    language = "hi" if path.parent.name == "hi" else "en"
    html, _ = exporter.from_notebook_node(nb, resources={"assets": "../_assets", "language_code": language,
                                                         "metadata": {"name": path.stem}})
    html = re.sub(r"/\*(?:(?!\*/).)*?://.*?\*/", "", html, flags=re.S)  # web addresses in the CSS's comments
    target.write_text(html, encoding="utf-8")
    return html


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "slides")
    args = parser.parse_args(argv)
    try:
        copy_assets(args.out)
    except offline_assets.MissingAsset as err:
        print(f"slides: {err}", file=sys.stderr)
        return 1
    for path in sorted(args.notebooks):
        language = "hi" if path.resolve().parent.name == "hi" else "en"
        target = args.out / language / f"{path.stem}.slides.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        export(path.resolve(), target)
    print(f"slides: {len(args.notebooks)} decks in {args.out}/en and {args.out}/hi (reveal.js and MathJax in "
          f"{args.out}/_assets; open a deck in a browser, press S for speaker notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
