"""The files the site and the slides serve themselves instead of fetching: MathJax, reveal.js, a Devanagari font.

Each comes from a pinned package of requirements-site.txt, so nothing is downloaded when a page is opened.
"""
import importlib.metadata
import importlib.resources
import pathlib
import shutil

FONT = "NotoSansDevanagari.ttf"


class MissingAsset(RuntimeError):
    """A package of requirements-site.txt is not installed."""


def _package_dir(distribution: str, folder: str) -> pathlib.Path:
    try:
        path = pathlib.Path(importlib.metadata.distribution(distribution).locate_file(folder))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise MissingAsset(f"{distribution} is not installed in this Python; run make site-setup "
                           "(pip install -r requirements-site.txt)")
    return path


def mathjax() -> pathlib.Path:
    """MathJax 3's single-file TeX-to-SVG build (every TeX extension included, no web fonts needed)."""
    return _package_dir("sphinx-mathjax-offline", "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js")


def reveal() -> pathlib.Path:
    """A reveal.js distribution (dist/ and plugin/), as vendored by sphinx-revealjs."""
    return _package_dir("sphinx-revealjs", "sphinx_revealjs/_static/revealjs")


def copy_font(target: pathlib.Path) -> pathlib.Path:
    """Noto Sans Devanagari (SIL Open Font License 1.1) and its licence into target; the font's path."""
    _package_dir("fontpkg-noto-sans-devanagari", "fontpkg_noto_sans_devanagari")
    package = importlib.resources.files("fontpkg_noto_sans_devanagari")
    target.mkdir(parents=True, exist_ok=True)
    (font,) = [f for f in (package / "files").iterdir() if f.name.endswith(".ttf")]
    with importlib.resources.as_file(font) as source:
        shutil.copyfile(source, target / FONT)
    (target / "NotoSansDevanagari-OFL.txt").write_text((package / "LICENSE").read_text(encoding="utf-8"),
                                                       encoding="utf-8")
    return target / FONT
