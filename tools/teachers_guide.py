"""The teacher's guide, a page of the site: three plans from the notebooks' metadata, set-up, common learner errors."""
import dataclasses

try:
    from tools import teaching
except ImportError:  # run as a script from tools/
    import teaching

OPENING, CLOSING, BREAK, LUNCH, BLOCK = 10, 10, 15, 60, 90  # minutes; a break after at most BLOCK of teaching
PLANS = [("90 minutes", 90, False), ("Half day (3½ hours)", 210, False), ("Full day (7 hours with lunch)", 420, True)]


@dataclasses.dataclass
class Plan:
    """A timetable (start minute, minutes, what) and the notebooks left out with the reason."""

    title: str
    length: int
    rows: list
    left_out: list


def make_plan(notebooks, title: str, length: int, lunch: bool = False) -> Plan:
    """Fit notebooks, in order and after their prerequisites, into `length` minutes with breaks, opening, closing."""
    numbers = {nb.number for nb in notebooks}
    rows = [(0, OPENING, "Welcome; every laptop opens the site and runs notebook 01's first cell")]
    left_out, taken = [], set()
    clock, since_break, had_lunch, end = OPENING, 0, False, length - CLOSING
    for nb in notebooks:
        if nb.meta is None:
            left_out.append((nb, f"no teaching metadata ({nb.problem})"))
            continue
        missing = [n for n in nb.requires(numbers) if n not in taken]
        if missing:
            left_out.append((nb, f"needs notebook {', '.join(missing)} first"))
            continue
        minutes = nb.meta["minutes_to_teach"]
        pause, pause_name = 0, ""
        if since_break and since_break + minutes > BLOCK:
            pause, pause_name = (LUNCH, "Lunch") if lunch and not had_lunch and clock >= 150 else (BREAK, "Break")
        if clock + pause + minutes > end:
            left_out.append((nb, f"{minutes:g} minutes to teach, {max(end - clock - pause, 0):g} left"))
            continue
        if pause:
            rows.append((clock, pause, pause_name))
            clock, since_break, had_lunch = clock + pause, 0, had_lunch or pause_name == "Lunch"
        rows.append((clock, minutes, nb))
        clock, since_break = clock + minutes, since_break + minutes
        taken.add(nb.number)
    rows.append((clock, CLOSING, "Questions; what to read next (the notebooks left out, the solutions)"))
    return Plan(title, length, rows, left_out)


def _clock(minute: float, start_hour: int = 9) -> str:
    total = int(round(start_hour * 60 + minute))
    return f"{total // 60:02d}:{total % 60:02d}"


def _plan_markdown(plan: Plan, solutions: dict) -> list[str]:
    used = plan.rows[-1][0] + plan.rows[-1][1]
    lines = [f"### {plan.title}", "", f"Starting at 09:00; {used:g} of {plan.length} minutes planned.", "",
             "| time | minutes | what |", "|---|---|---|"]
    for start, minutes, what in plan.rows:
        if isinstance(what, teaching.Notebook):
            solution = f"; [solutions](solutions/{solutions[what.number]})" if what.number in solutions else ""
            what = f"[{what.title}](notebooks/{what.name}) (runs in {what.meta['minutes_to_run']:g} min{solution})"
        lines.append(f"| {_clock(start)}–{_clock(start + minutes)} | {minutes:g} | {what} |")
    if plan.left_out:
        lines += ["", "Left for self-study: " + "; ".join(f"{nb.title} ({why})" for nb, why in plan.left_out) + "."]
    return lines + [""]


# (exception, a part of its message, what happened, the fix). tests/test_teachers_guide.py raises each for real.
ERRORS = [
    ("WorkerError", "this worker bob was replaced",
     "The cell that creates the workers ran again: `fh.VirtualWorker(\"bob\")` made a new, empty bob, and the old "
     "`bob` object refuses work.",
     "Run the notebook from the top again (Kernel, Restart and Run All), or use the new worker, "
     "`fh.get_worker(\"bob\")`."),
    ("PointerError", "this pointer refers to an object on an earlier worker named bob",
     "A pointer made before the workers were created again points into the old, emptied bob.",
     "Re-run the cells that send data and models to bob, in order."),
    ("PointerError", "this pointer can no longer be used: its object was fetched with .get()",
     "A stale pointer: `.get()` brought the object back and removed it from the worker.",
     "Use the value `.get()` returned, or send the object again for a new pointer."),
    ("PrivacyError", "fetching it would reveal their data",
     "`.get()` on something that depends on one data owner's private data.",
     "Move models to the secure worker and fetch only an average, `fh.secure_average(...)`."),
    ("PrivacyError", "a data owner's worker releases no value that depends on private data, scalars included",
     "Under the strict policy even a loss or a sum of bob's data stays on bob.",
     "Bring back aggregates only: `fh.average_losses(...)` for losses, `fh.secure_average(...)` for models."),
    ("PrivacyError", "only models the model owner sent, and training metrics, leave a data owner's worker",
     "Under the strict policy, data (or anything computed from it) was moved off bob's worker.",
     "Train a model you sent to bob, and aggregate the models with `fh.secure_average(...)`."),
    ("PrivacyError", "runs only its aggregation functions, not arbitrary operations",
     "Under the strict policy, arithmetic was done on the secure worker (it could single out one owner).",
     "Use `fh.secure_average(...)` or `fh.average_losses(...)` on the secure worker."),
    ("LocationError", "an operation runs on one worker",
     "One operation mixed objects on bob and on alice.",
     "Move one of them first (to a trusted worker if it is private data)."),
]

OTHER_ERRORS = [
    ("`Running as root is not recommended. Use --allow-root to bypass.`",
     "JupyterLab started as root (a container, a lab machine's admin account).",
     "Run `make lab` as an ordinary user; in a throw-away container, `.venv/bin/jupyter lab --allow-root notebooks`."),
    ("`ModuleNotFoundError: No module named 'fedavg_helpers'`",
     "The notebook runs in a kernel outside the project's `.venv`.",
     "Start JupyterLab with `make lab` (it uses `.venv`), or pick the `.venv` Python as the kernel."),
    ("`setup: fedavg-notebooks needs Python >= 3.11`",
     "The laptop's default Python is older.",
     "Install Python 3.11 or newer and run `make setup PYTHON=/path/to/python3.11`."),
    ("pip cannot reach the network during `make setup`",
     "The room has no network, or a slow one.",
     "Copy `wheelhouse/` (see Before the room fills) into the project folder and run `make setup` again: it installs "
     "from `./wheelhouse` and asks no index."),
    ("Hindi text shows as empty boxes in JupyterLab",
     "The laptop has no Devanagari font (the site brings its own, JupyterLab uses the system's).",
     "Debian/Ubuntu: `sudo apt-get install fonts-lohit-deva` (or fonts-noto-core); other systems have one."),
]


def _errors_markdown() -> list[str]:
    lines = ["| the learner sees | what happened | the fix |", "|---|---|---|"]
    for name, part, why, fix in ERRORS:
        lines.append(f"| `{name}: ...{part}...` | {why} | {fix} |")
    for seen, why, fix in OTHER_ERRORS:
        lines.append(f"| {seen} | {why} | {fix} |")
    return lines


def markdown(notebooks, solutions: dict | None = None) -> str:
    """The guide as a MyST page; solutions maps a notebook's number to its solution page (in solutions/)."""
    solutions = solutions or {}
    lines = ["# Teacher's guide", "",
             "Three ways to fit the series into a workshop, what to prepare before the room fills, and the errors "
             "learners meet most, with their fixes. The plans come from each notebook's minutes to teach and "
             "prerequisites (its metadata), so they follow the notebooks as they change.", ""]
    problems = teaching.warnings(notebooks)
    if problems:
        lines += ["```{note}", "Some notebooks have no teaching metadata yet, so the plans leave them out:", ""]
        lines += [f"- {p}" for p in problems] + ["```", ""]
    lines += ["## Plans", "",
              f"Each plan opens with {OPENING} minutes of welcome and set-up check, closes with {CLOSING} minutes of "
              f"questions, and pauses {BREAK} minutes after at most {BLOCK} minutes of teaching (lunch: {LUNCH}). "
              "A notebook is taught only after the notebooks its prerequisites name.", ""]
    for title, length, lunch in PLANS:
        lines += _plan_markdown(make_plan(notebooks, title, length, lunch), solutions)
    timed = [nb for nb in notebooks if nb.meta]
    general = sorted({p for nb in timed for p in nb.meta["prerequisites"] if not teaching.notebook_refs(p)})
    lines += ["## Before the room fills", "",
              "On the teacher's machine, with network, a day or more before:", "",
              "1. `make test` and `make site slides`: the series works on this machine, and `build/site/` is a site "
              "you can copy to a USB stick (open `index.html`, or serve it: `python3 -m http.server -d build/site`); "
              "the decks are in `build/slides/` and on the site.",
              "2. `make wheelhouse`: downloads every pinned package (requirements.txt and requirements-site.txt, the "
              "CPU build of torch included) once into `wheelhouse/`. Copy the project folder with `wheelhouse/` to "
              "the learners (USB stick, shared drive).",
              "3. On each learner's laptop, without network: `make setup` installs from `./wheelhouse` when it is "
              "there (the same as `pip install --no-index --find-links wheelhouse -r requirements.txt`), then "
              "`make lab`. The wheels are for the teacher's platform and Python (Linux x86-64, Python 3.11 by "
              "default: `make wheelhouse WHEEL_PYTHON=3.12` for another).",
              "4. Check one laptop end to end: `make lab`, run notebook 01; Hindi prose needs a Devanagari font in "
              "JupyterLab (see the errors below)."]
    if timed:
        total = sum(nb.meta["minutes_to_run"] for nb in timed)
        lines += [f"5. A laptop runs the {len(timed)} timed notebooks in about {total:g} minutes in all; the slowest "
                  f"is {max(timed, key=lambda nb: nb.meta['minutes_to_run']).title}."]
    if general:
        lines += ["", "What learners should bring (the notebooks' prerequisites):", ""] + [f"- {p}" for p in general]
    lines += ["", "## Common learner errors", "",
              "The package's errors say what went wrong and what to do; these are the ones a room meets most.", ""]
    lines += _errors_markdown()
    return "\n".join(lines) + "\n"
