"""The set-up refuses what it cannot support, clearly, and pins every package exactly."""
import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("setup_venv", ROOT / "tools" / "setup_venv.py")
setup_venv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_venv)


def test_too_old_python_is_refused_with_what_was_found_and_what_to_do():
    with pytest.raises(setup_venv.SetupError) as err:
        setup_venv.check_python((3, 10, 12), "/usr/bin/python3")
    message = str(err.value)
    assert "needs Python >= 3.11" in message and "found Python 3.10.12 at /usr/bin/python3" in message
    assert "PYTHON=" in message


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 11, 2), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_pass(version):
    setup_venv.check_python(version, "python3")


def test_every_requirement_is_pinned_exactly_and_torch_is_found():
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.+\-]*", line) for line in lines)
    assert setup_venv.torch_pin(ROOT / "requirements.txt") == "torch==2.13.0"


def test_a_missing_torch_pin_is_reported(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\n")
    with pytest.raises(setup_venv.SetupError, match="no exact torch pin"):
        setup_venv.torch_pin(requirements)
