"""The exercise solutions in solutions/ run, and give the answers their docstrings state."""
import importlib.util
import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")

SOLUTIONS = pathlib.Path(__file__).resolve().parent.parent / "solutions"


def load(name):
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_01():
    nb = load("nb01_data_splitting")
    received, plain = nb.exercise_1()
    assert received == plain
    assert nb.exercise_2() == (1.0, True)
    assert "already exists" in nb.exercise_3()[1]
    location, message, _ = nb.exercise_4()
    assert location == "bob" and "alice is not trusted" in message


def test_notebook_02():
    nb = load("nb02_local_training")
    final_loss, predictions = nb.exercise_1()
    assert final_loss < 1e-3 and all(abs(p) < 0.05 for p in predictions)
    alice = nb.exercise_2()
    assert alice[-1] > 1000 * alice[0]  # diverges
    with_sum, twice_mean = nb.exercise_3()
    assert with_sum == pytest.approx(twice_mean, rel=1e-5)
    assert isinstance(nb.exercise_4(), float)


def test_notebook_03():
    nb = load("nb03_moving_to_secure_worker")
    assert nb.exercise_1() == ("alice", "refused")
    held = nb.exercise_2()
    assert sorted(h["owners"][0] for h in held) == ["alice", "bob", "charlie"]
    _, per_parameter, fixed = nb.exercise_3()
    assert 3.9 < per_parameter < 4.1 and fixed > 1000


def test_notebook_04():
    nb = load("nb04_averaging")
    difference, _ = nb.exercise_1()
    assert difference < 1e-6
    change, _, _ = nb.exercise_2()
    assert change > 1e-3
    assert "at least 3 data owners" in nb.exercise_3()
