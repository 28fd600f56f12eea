"""Build the series' static site (both editions, landing pages, teacher's guide, solutions) from the stored outputs.

    python tools/build_site.py [--out build/site]      (make site)

Writes Sphinx sources into build/site-src (copies of the notebooks with links to repository files turned into
links to pages of the site, a page per solution, the landing pages from the notebooks' metadata, the guide) and
runs Sphinx with docs/conf.py: no notebook is executed and nothing is fetched. Warnings are errors, so a link that
leads nowhere stops the build. Decks from make slides (build/slides) are copied in and linked when present.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

import nbformat

try:
    from tools import teachers_guide, teaching
except ImportError:  # run as a script from tools/
    import teachers_guide
    import teaching

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
WEB = re.compile(r"[a-z]+://|#|mailto:")
LANGUAGES = {"en": ROOT / "notebooks", "hi": ROOT / "notebooks" / "hi"}

WORDS = {  # the landing pages' own words, in each edition
    "en": {"title": "Federated learning with model averaging",
           "intro": "A numbered notebook series that teaches federated learning with model averaging on today's "
                    "PyTorch: data owners train copies of a model on their own data, and only an average comes back. "
                    "Every page shows the notebook as it is stored, outputs included.",
           "learn": "You will learn", "before": "Before it", "teach": "minutes to teach", "run": "minutes to run",
           "solutions": "solutions", "slides": "slides", "guide": "Teacher's guide",
           "guide_text": "plans for 90 minutes, half a day and a day; setting up a room without network; "
                         "common learner errors.",
           "no_meta": "Its objectives, prerequisites and times are not recorded yet."},
    "hi": {"title": "मॉडल एवरेजिंग के साथ फ़ेडरेटेड लर्निंग",
           "intro": "क्रमांकित नोटबुक की एक शृंखला, जो आज के PyTorch पर मॉडल एवरेजिंग के साथ फ़ेडरेटेड लर्निंग "
                    "सिखाती है: डेटा स्वामी अपने-अपने डेटा पर मॉडल की प्रतियाँ ट्रेन करते हैं, "
                    "और वापस सिर्फ़ औसत आता है। "
                    "हर पेज नोटबुक को वैसा ही दिखाता है जैसी वह सहेजी गई है, आउटपुट समेत।",
           "learn": "आप सीखेंगे", "before": "इससे पहले", "teach": "मिनट पढ़ाने में", "run": "मिनट चलाने में",
           "solutions": "हल", "slides": "स्लाइड", "guide": "शिक्षक गाइड (अंग्रेज़ी में)",
           "guide_text": "90 मिनट, आधे दिन और पूरे दिन की योजनाएँ; बिना नेटवर्क के कमरे की तैयारी; आम गलतियाँ।",
           "no_meta": "इसके उद्देश्य, पूर्व-आवश्यकताएँ और समय अभी दर्ज नहीं हैं।"},
}


class SiteError(RuntimeError):
    """The site cannot be built; the message says what to fix."""


def page_for(repo_file: pathlib.Path) -> str:
    """The site page (relative to the site root, .md) that shows a repository file other than a notebook.

    A markdown file (the README) is its own page, rendered, so that a link to one of its sections works.
    """
    relative = repo_file.relative_to(ROOT).as_posix()
    return relative if repo_file.suffix == ".md" else relative + ".md"


def markdown_page(src: pathlib.Path, repo_file: pathlib.Path) -> None:
    """A markdown file of the repository as a page: links to notebooks stay, a link to an edition's folder
    leads to that edition's landing page, and a link to anything else the site does not have stops the build."""
    landing_of = {LANGUAGES["en"]: "index.md", LANGUAGES["hi"]: "hi/index.md"}
    depth = "../" * repo_file.relative_to(ROOT).as_posix().count("/")

    def replace(match):
        target = match.group(1)
        full = (repo_file.parent / target.partition("#")[0]).resolve()
        if WEB.match(target) or full.suffix == ".ipynb" and full.is_file():
            return match.group(0)
        if full in landing_of:
            return f"]({depth}{landing_of[full]})"
        raise SiteError(f"{repo_file.relative_to(ROOT)}: link {target} leads to nothing the site shows; "
                        "link a notebook or an edition's folder instead")
    page = src / page_for(repo_file)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(LINK.sub(replace, repo_file.read_text(encoding="utf-8")), encoding="utf-8")


def rewrite_links(text: str, source: pathlib.Path, site_dir: str, linked: set) -> str:
    """Links to repository files become links to their pages; notebooks keep theirs. Record the files linked."""
    def replace(match):
        target = match.group(1)
        if WEB.match(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        full = (source.parent / path).resolve()
        if not full.is_file() or ROOT not in full.parents:
            raise SiteError(f"{source.relative_to(ROOT)}: link {target} leads to no file in the repository; "
                            "fix the link in the notebook")
        if full.suffix == ".ipynb":
            return match.group(0)
        linked.add(full)
        page = pathlib.PurePosixPath(page_for(full))
        relative = pathlib.PurePosixPath(*[".."] * len(pathlib.PurePosixPath(site_dir).parts), page)
        return f"]({relative.as_posix()}{'#' + anchor if anchor else ''})"
    return LINK.sub(replace, text)


def copy_notebooks(src: pathlib.Path) -> set:
    """Both editions into src/notebooks (same layout as the repository), links rewritten; the files they link."""
    linked = set()
    for language, folder in LANGUAGES.items():
        site_dir = "notebooks" if language == "en" else "notebooks/hi"
        (src / site_dir).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = rewrite_links(cell.source, path, site_dir, linked)
            nb.metadata.pop("widgets", None)
            nbformat.write(nb, src / site_dir / path.name)
    return linked


def file_page(src: pathlib.Path, repo_file: pathlib.Path, notebooks) -> None:
    """A page showing a repository file; a solution file names its notebook and links back to it."""
    if repo_file.suffix == ".md":
        return markdown_page(src, repo_file)
    relative = repo_file.relative_to(ROOT).as_posix()
    page = src / page_for(repo_file)
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_file, page.parent / repo_file.name)
    depth = "../" * relative.count("/")
    match = re.match(r"nb(\d{2})_", repo_file.name)
    owner = next((nb for nb in notebooks if match and nb.number == match.group(1)), None)
    if owner is not None:
        heading = f"# Solutions: {owner.title}"
        intro = (f"The worked solutions to the exercises of [{owner.title}]({depth}notebooks/{owner.name}), "
                 f"from `{relative}` (`tests/test_solutions.py` runs them).")
    else:
        heading, intro = f"# {relative}", f"The file `{relative}` of the repository."
    language = {".py": "python", ".txt": "text", ".cfg": "ini", ".toml": "toml"}.get(repo_file.suffix, "text")
    page.write_text(f"{heading}\n\n{intro}\n\n```{{literalinclude}} {repo_file.name}\n:language: {language}\n```\n",
                    encoding="utf-8")


def landing(notebooks, language: str, slides: bool, solutions: dict | None = None) -> str:
    """The landing page of one edition: every notebook with its objectives, prerequisites and times."""
    words, up, solutions = WORDS[language], "" if language == "en" else "../", solutions or {}
    lines = [f"# {words['title']}", "", words["intro"], "",
             f"**[{words['guide']}]({up}guide.md)**: {words['guide_text']}", ""]
    for nb in notebooks:
        title = nb.title if language == "en" else (nb.title_hi or nb.title)
        folder = "notebooks" if language == "en" else "notebooks/hi"
        meta = nb.meta if language == "en" else nb.meta_hi
        lines += [f"## [{title}]({up}{folder}/{nb.name})", ""]
        extras = []
        if meta:
            extras.append(f"{meta['minutes_to_teach']:g} {words['teach']} · {meta['minutes_to_run']:g} {words['run']}")
        if nb.number in solutions:
            extras.append(f"[{words['solutions']}]({up}solutions/{solutions[nb.number]})")
        if slides:
            deck = f"{up}slides/{language}/{nb.path.stem}.slides.html"
            extras.append(f'<a href="{deck}">{words["slides"]}</a>')
        lines += [" · ".join(extras), ""]
        if meta:
            lines += [f"**{words['learn']}:**", ""] + [f"- {o}" for o in meta["objectives"]] + [""]
            if meta["prerequisites"]:
                lines += [f"**{words['before']}:** " + "; ".join(meta["prerequisites"]), ""]
        else:
            lines += [f"*{words['no_meta']}*", ""]
    folder = "notebooks" if language == "en" else "notebooks/hi"
    hidden = [f"/{folder}/{nb.name[:-6]}" for nb in notebooks]
    if language == "en":
        hidden += ["/guide", "/hi/index"] + sorted(f"/solutions/{s[:-3]}" for s in solutions.values())
    lines += ["```{toctree}", ":hidden:", ""] + hidden + ["```", ""]
    return "\n".join(lines)


def write_sources(src: pathlib.Path, slides: bool) -> list[str]:
    """All Sphinx sources into src; returns the warnings about missing metadata."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    notebooks = teaching.load()
    linked = copy_notebooks(src) | set((ROOT / "solutions").glob("*.py"))
    solutions = {}  # notebook number -> its solution page, e.g. "04": "nb04_averaging.py.md"
    for repo_file in sorted(linked):
        file_page(src, repo_file, notebooks)
        match = re.match(r"nb(\d{2})_", repo_file.name)
        if repo_file.parent == ROOT / "solutions" and match:
            solutions[match.group(1)] = pathlib.PurePosixPath(page_for(repo_file)).name
    others = sorted(page_for(f)[:-3] for f in linked if f.parent != ROOT / "solutions")
    (src / "index.md").write_text(landing(notebooks, "en", slides, solutions) + (
        "```{toctree}\n:hidden:\n\n" + "\n".join(f"/{o}" for o in others) + "\n```\n" if others else ""),
        encoding="utf-8")
    (src / "hi").mkdir()
    (src / "hi" / "index.md").write_text(landing(notebooks, "hi", slides, solutions), encoding="utf-8")
    (src / "guide.md").write_text(teachers_guide.markdown(notebooks, solutions), encoding="utf-8")
    return teaching.warnings(notebooks)


def build(out: pathlib.Path, src: pathlib.Path, slides_dir: pathlib.Path) -> int:
    slides = slides_dir.is_dir() and any(slides_dir.glob("*/*.slides.html"))
    for line in write_sources(src, slides):
        print(f"site: {line}")
    if not slides:
        print(f"site: no decks in {slides_dir}; the landing pages link none (make slides, then make site)")
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-j", "auto",
               "-c", str(ROOT / "docs"), str(src), str(out)]
    if subprocess.run(command).returncode != 0:
        print("site: Sphinx stopped on the warnings above (each names the page and the problem)", file=sys.stderr)
        return 1
    if slides:
        shutil.copytree(slides_dir, out / "slides")
    pages = len([p for p in out.rglob("*.html") if not p.relative_to(out).parts[0].startswith("_")])
    print(f"site: {pages} pages in {out}/ (open {out / 'index.html'})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "site")
    parser.add_argument("--src", type=pathlib.Path, default=ROOT / "build" / "site-src")
    parser.add_argument("--slides", type=pathlib.Path, default=ROOT / "build" / "slides")
    args = parser.parse_args(argv)
    try:
        return build(args.out.resolve(), args.src.resolve(), args.slides.resolve())
    except SiteError as err:
        print(f"site: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
