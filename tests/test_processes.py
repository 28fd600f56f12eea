"""Workers as OS processes: the seed loop gives bit-identical results, and every world ends in bounded time.

No RPC ever starts in the pytest process: each scenario of tests/process_worlds.py runs in a child in its
own session, and at the deadline the whole session is killed by its id (workers die with their parent too).
"""
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

import fedavg_helpers as fh

HERE = pathlib.Path(__file__).resolve().parent


def run_world(scenario: str, *args, deadline: float = 150.0) -> dict:
    """Run one scenario in a child process; return its JSON report (fail, never hang, at the deadline)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    child = subprocess.Popen([sys.executable, str(HERE / "process_worlds.py"), scenario, *args], cwd=HERE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        pytest.fail(f"scenario {scenario} did not finish within {deadline} s\n{err[-3000:]}")
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_seed_loop_is_bit_identical_in_processes_and_leaves_no_process():
    report = run_world("seed")
    inproc, procs = report["inproc"], report["procs"]
    assert procs["bits"] == inproc["bits"]  # the final model, bit for bit
    assert procs["losses"] == inproc["losses"]
    assert procs["refused"] == inproc["refused"]  # the same refusals, decided in the workers' processes
    assert procs["bytes"] == inproc["bytes"]
    assert report["alive_after"] == []
    assert report["bad_input"] == report["bad_input_expected"]


@pytest.mark.parametrize("names, trusted, match", [
    (["bob", "bob"], [], "used twice"),
    (["bob", "alice"], ["secure_worker"], "not among the workers"),
    (["bob", "model_owner"], [], "our own process"),
    ("bob", [], "list of worker names"),
    (["bob", "not a name"], [], "identifier"),
])
def test_bad_worlds_are_refused_before_any_process_starts(names, trusted, match):
    with pytest.raises(fh.WorkerError, match=match):
        with fh.spawn_workers(names, trusted=trusted):
            pass


def test_process_config_checks_its_numbers():
    with pytest.raises(ValueError, match="Invalid timeout"):
        fh.ProcessConfig(timeout=0)
