"""Learners re-run cells: every notebook run twice in one kernel ("Run All" twice) gives the same output twice.

The second pass must neither fail (a worker name taken, a pointer into an earlier worker) nor print
anything else: every notebook seeds its randomness, and creating a worker again starts a fresh one.
The slow notebooks run here only with `make test-slow` (CI runs it); `make test` runs the fast ones.
"""
import configparser
import pathlib
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

from tools import run_times, teaching

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SLOW = {"05_fedavg_on_digits.ipynb", "07_privacy_and_robustness.ipynb", "08_real_processes.ipynb",
        "09_what_an_update_gives_away.ipynb"}


def sanitizers():
    """nbval's sanitizing rules (nbval_sanitize.cfg): addresses, temporary paths, durations."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "nbval_sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def text_of(outputs, rules) -> list[str]:
    """What a reader sees of a cell's outputs as text: stdout joined (how it is cut into chunks depends on the
    machine's load), then each result; figures by their text stand-in, stderr (progress, warnings) left out."""
    stdout, texts = "", []
    for out in outputs:
        if out.output_type == "stream":
            stdout += out.text if out.name == "stdout" else ""  # Python shows a warning once per place, not twice
        elif out.output_type in ("execute_result", "display_data"):
            texts.append(out.data.get("text/plain", ""))
        else:  # an error no cell caught
            texts.append(f"UNCAUGHT {out.ename}: {out.evalue}")
    texts.insert(0, stdout)
    for i, text in enumerate(texts):
        for regex, replacement in rules:
            text = regex.sub(replacement, text)
        texts[i] = text
    return texts


def run_twice(path: pathlib.Path):
    """The text outputs of every code cell, on a first and on a second pass in the same kernel."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    rules, passes = sanitizers(), []
    with client.setup_kernel():
        for number in range(2):
            start, outputs = time.perf_counter(), []
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    cell.outputs = []
                    client.execute_cell(cell, index)
                    outputs.append(text_of(cell.outputs, rules))
            passes.append(outputs)
            if number == 0:  # a fresh run: checked below and by tests/test_run_times.py against the metadata
                run_times.record(path, time.perf_counter() - start, "first pass of tests/test_rerun.py")
    return passes


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in NOTEBOOKS])
def test_run_all_twice_in_one_kernel(path):
    first, second = run_twice(path)
    for index, (a, b) in enumerate(zip(first, second)):
        uncaught = [t for t in a + b if t.startswith("UNCAUGHT")]
        assert not uncaught, f"code cell {index} failed: {uncaught}"
        assert a == b, f"code cell {index} printed something else on the second pass:\n{a}\n---\n{b}"
    # the first pass was a fresh run: it must fit the minutes_to_run the notebook states, whatever order tests run in
    (nb,) = [nb for nb in teaching.load() if nb.path.name == path.name]
    assert run_times.over_budget([nb], run_times.load()) == []
