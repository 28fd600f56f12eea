"""Each notebook runs within the minutes_to_run its metadata states, as measured by the runs that happen anyway
(tests/test_rerun.py's first pass in make test, tools/run_notebooks.py in make run): no extra execution here."""
import pathlib

import pytest

from tools import run_times, teaching

NOTEBOOKS = teaching.load()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_measured_run_time_within_the_stated_minutes(nb):
    if nb.meta is None:
        pytest.skip(f"{nb.name}: {nb.problem}, so there are no minutes to check against")
    entry = run_times.current(nb.path, run_times.load())
    if entry is None:
        pytest.skip(f"{nb.name} not measured with its current code (make run, or make test-slow for the slow ones)")
    assert run_times.over_budget([nb], run_times.load()) == []


def test_a_slow_or_stale_measurement_is_reported(tmp_path):
    path = sorted(pathlib.Path(teaching.NOTEBOOKS).glob("*.ipynb"))[0]
    store = tmp_path / "run_times.json"
    nb = teaching.Notebook(path, path.name[:2], "t", {"minutes_to_run": 1})
    run_times.record(path, 59.0, "a test", store)
    assert run_times.over_budget([nb], run_times.load(store)) == []
    run_times.record(path, 61.0, "a test", store)
    (problem,) = run_times.over_budget([nb], run_times.load(store))
    assert "ran in 61 s (a test), more than its stated minutes_to_run of 1" in problem
    times = run_times.load(store)
    times[run_times._key(path)]["code"] = "an older version"
    assert run_times.current(path, times) is None and run_times.over_budget([nb], times) == []
