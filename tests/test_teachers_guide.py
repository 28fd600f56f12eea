"""The teacher's guide and the landing pages follow the metadata, and the errors the guide quotes are real."""
import pathlib

import pytest
import torch
from torch import nn

import fedavg_helpers as fh
from tools import build_site, teachers_guide, teaching

ROOT = pathlib.Path(__file__).resolve().parent.parent


def series(*specs):
    """Fake notebooks: (number, minutes to teach, prerequisites)."""
    return [teaching.Notebook(ROOT / "notebooks" / f"{n}_x.ipynb", n, f"{n} · Title {n}",
                              {"objectives": [f"goal {n}a", f"goal {n}b", f"goal {n}c"], "prerequisites": pre,
                               "minutes_to_run": 1, "minutes_to_teach": t}) for n, t, pre in specs]


def taught(plan):
    return [what.number for _, _, what in plan.rows if isinstance(what, teaching.Notebook)]


def test_plans_fit_their_length_in_order_with_breaks():
    notebooks = series(("01", 25, ["Python"]), ("02", 20, ["notebook 01"]), ("03", 15, ["notebook 02"]),
                       ("04", 15, ["notebooks 01-03"]), ("05", 45, ["notebook 04"]), ("06", 60, ["notebook 04"]),
                       ("07", 60, ["notebook 05"]))
    short = teachers_guide.make_plan(notebooks, "90", 90)
    assert taught(short) == ["01", "02", "03"]  # 10 + 60 teaching + 10; 04 would need 15 more minutes
    day = teachers_guide.make_plan(notebooks, "day", 420, lunch=True)
    assert taught(day) == ["01", "02", "03", "04", "05", "06", "07"]
    assert any(what == "Lunch" for _, _, what in day.rows) and any(what == "Break" for _, _, what in day.rows)
    for plan in (short, day):
        end = plan.rows[-1][0] + plan.rows[-1][1]
        assert end <= plan.length
        assert all(a[0] + a[1] == b[0] for a, b in zip(plan.rows, plan.rows[1:]))  # no gaps, no overlaps


def test_a_notebook_is_left_out_when_its_prerequisite_is():
    notebooks = series(("01", 25, []), ("02", 80, ["notebook 01"]), ("03", 20, ["notebook 02"]), ("04", 20, []))
    plan = teachers_guide.make_plan(notebooks, "90", 90)
    assert taught(plan) == ["01", "04"]
    reasons = {nb.number: why for nb, why in plan.left_out}
    assert "left" in reasons["02"] and reasons["03"] == "needs notebook 02 first"


def test_missing_metadata_is_said_on_the_guide_and_landing_pages():
    bare = teaching.Notebook(ROOT / "notebooks" / "01_x.ipynb", "01", "01 · Title", None, problem="no metadata")
    guide = teachers_guide.markdown([bare])
    assert "no teaching metadata yet" in guide and "01_x.ipynb: no metadata" in guide
    assert "Its objectives, prerequisites and times are not recorded yet." in build_site.landing([bare], "en", False)


def test_the_landing_pages_show_the_metadata_in_each_edition():
    (nb,) = series(("01", 25, ["basic Python"]))
    nb.meta_hi = dict(nb.meta, objectives=["लक्ष्य एक", "लक्ष्य दो", "लक्ष्य तीन"], prerequisites=["पाइथन"])
    nb.title_hi = "01 · शीर्षक"
    english, hindi = build_site.landing([nb], "en", True), build_site.landing([nb], "hi", True)
    assert "25 minutes to teach · 1 minutes to run" in english and "- goal 01b" in english
    assert "**Before it:** basic Python" in english and 'href="slides/en/01_x.slides.html"' in english
    assert "## [01 · शीर्षक](../notebooks/hi/01_x.ipynb)" in hindi and "- लक्ष्य दो" in hindi
    assert "पाइथन" in hindi and 'href="../slides/hi/01_x.slides.html"' in hindi


SNIPPETS = {  # code that makes each error of the guide's table happen
    "this worker bob was replaced":
        "bob = fh.VirtualWorker('bob'); fh.VirtualWorker('bob'); fh.send(torch.ones(2), bob)",
    "this pointer refers to an object on an earlier worker named bob":
        "bob = fh.VirtualWorker('bob'); p = fh.send(torch.ones(2), bob); fh.VirtualWorker('bob'); p + 1",
    "this pointer can no longer be used: its object was fetched with .get()":
        "p = fh.send(torch.ones(2), fh.VirtualWorker('bob')); p.get(); p + 1",
    "fetching it would reveal their data":
        "fh.send(torch.ones(2), fh.VirtualWorker('bob'), private=True).get()",
    "a data owner's worker releases no value that depends on private data, scalars included":
        "fh.set_policy(fh.PrivacyPolicy(strict=True)); "
        "fh.send(torch.ones(2), fh.VirtualWorker('bob'), private=True).sum().get()",
    "only models the model owner sent, and training metrics, leave a data owner's worker":
        "fh.set_policy(fh.PrivacyPolicy(strict=True)); s = fh.VirtualWorker('secure_worker', trusted=True); "
        "fh.send(torch.ones(2), fh.VirtualWorker('bob'), private=True).move(s)",
    "runs only its aggregation functions, not arbitrary operations":
        "fh.set_policy(fh.PrivacyPolicy(strict=True)); bob = fh.VirtualWorker('bob'); "
        "s = fh.VirtualWorker('secure_worker', trusted=True); d = fh.send(torch.ones(2, 2), bob, private=True); "
        "m = fh.send(nn.Linear(2, 1), bob); m(d).sum().backward(); m.move(s); m.weight.data * 2",
    "an operation runs on one worker":
        "fh.send(torch.ones(2), fh.VirtualWorker('bob')) + fh.send(torch.ones(2), fh.VirtualWorker('alice'))",
}


@pytest.mark.parametrize("name, part", [(e[0], e[1]) for e in teachers_guide.ERRORS], ids=lambda v: v[:30])
def test_each_error_the_guide_quotes_is_what_the_package_raises(name, part):
    with pytest.raises(getattr(fh, name)) as raised:
        exec(SNIPPETS[part], {"fh": fh, "torch": torch, "nn": nn})
    assert part in str(raised.value)
    assert f"`{name}: ...{part}...`" in teachers_guide.markdown(teaching.load())


@pytest.mark.parametrize("text, numbers", [
    ("notebook 03", {"03"}), ("notebooks 01-04, 06", {"01", "02", "03", "04", "06"}),
    ("notebooks 01 to 03: workers and pointers", {"01", "02", "03"}), ("नोटबुक 01 से 03 तक", {"01", "02", "03"}),
    ("notebooks 01 and 02", {"01", "02"}), ("03_moving_to_secure_worker", {"03"}), ("basic Python", set()),
])
def test_prerequisites_name_notebooks_in_every_wording(text, numbers):
    assert teaching.notebook_refs(text) == numbers
