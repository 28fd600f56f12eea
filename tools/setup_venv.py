"""Create the project's virtual environment: check Python, install the CPU build of torch, then the pins.

Run by `make setup` (and so by `make run` and `make test`) with the Python that will host the venv.
It never installs a CUDA build of torch: torch comes from a local wheel that pip already knows about
(its find-links), or else from PyTorch's CPU index (TORCH_INDEX), and the result is checked.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MINIMUM = (3, 11)  # the oldest Python every pin in requirements.txt supports (checked in CI with 3.11.2)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
QUIET = ["--quiet", "--quiet", "--disable-pip-version-check"]


class SetupError(RuntimeError):
    """The set-up cannot go on; the message says what to install or set."""


def check_python(version=sys.version_info, executable=sys.executable) -> None:
    """Refuse a Python older than MINIMUM, saying what was found and how to choose another."""
    if tuple(version[:2]) < MINIMUM:
        found = ".".join(map(str, version[:3]))
        raise SetupError(
            f"fedavg-notebooks needs Python >= {MINIMUM[0]}.{MINIMUM[1]} (every pinned package supports it), "
            f"but found Python {found} at {executable}. Install Python {MINIMUM[0]}.{MINIMUM[1]} or newer "
            "(on Debian 12: apt install python3.11-venv) and run: make setup PYTHON=/path/to/python3.11"
        )


def torch_pin(requirements: pathlib.Path) -> str:
    """The exact torch requirement in requirements.txt, e.g. 'torch==2.13.0'."""
    for line in requirements.read_text().splitlines():
        if re.match(r"torch==", line.strip()):
            return line.strip()
    raise SetupError(f"{requirements} has no exact torch pin (torch==...)")


def pip(venv_python: pathlib.Path, *args: str, timeout: float | None = None, silent: bool = False) -> bool:
    """Run the venv's pip install; True if it succeeded (silent: a failure is expected and says nothing)."""
    output = subprocess.DEVNULL if silent else None
    try:
        command = [str(venv_python), "-m", "pip", "install", *QUIET, *args]
        return subprocess.run(command, timeout=timeout, stdout=output, stderr=output).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def install_torch(venv_python: pathlib.Path, pin: str, index: str) -> str:
    """Install the CPU build of torch: a local wheel pip already knows, else the CPU index. Return its source."""
    # offline first: find-links from pip's config or environment
    if pip(venv_python, "--no-index", "--no-deps", pin, silent=True):
        return "a local wheel"
    print(f"setup: no local wheel for {pin}; trying PyTorch's CPU index {index} (set TORCH_INDEX to change it)",
          flush=True)
    if pip(venv_python, "--no-deps", "--timeout", "20", "--retries", "1", "--index-url", index, pin, timeout=900):
        return index
    raise SetupError(
        f"could not install {pin} (CPU build) for Python {sys.version.split()[0]}: no local wheel, and "
        f"{index} did not provide one. PyPI's Linux build of torch is the CUDA one (gigabytes), so the set-up "
        "does not fall back to it. Give pip a wheel directory (PIP_FIND_LINKS=/dir/with/torch-wheel), point "
        "TORCH_INDEX at a reachable mirror of PyTorch's CPU index, or use Python 3.11."
    )


def check_cpu_build(venv_python: pathlib.Path) -> str:
    """Refuse a CUDA build of torch; return the installed version."""
    probe = "import torch; print(torch.__version__); print(torch.version.cuda)"
    out = subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    version, cuda = out[0], out[1]
    if cuda != "None":
        raise SetupError(f"torch {version} in the venv is a CUDA build (CUDA {cuda}); this series uses the CPU "
                         "build. Delete .venv and run make setup again with TORCH_INDEX set to PyTorch's CPU index.")
    return version


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", type=pathlib.Path, default=ROOT / ".venv")
    parser.add_argument("--torch-index", default=os.environ.get("TORCH_INDEX") or CPU_INDEX)
    args = parser.parse_args(argv)
    try:
        check_python()
        venv_python = args.venv / "bin" / "python"
        if not venv_python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        pin = torch_pin(ROOT / "requirements.txt")
        source = install_torch(venv_python, pin, args.torch_index)
        if not pip(venv_python, "-r", str(ROOT / "requirements.txt")):
            raise SetupError("pip could not install requirements.txt (its message is above)")
        if not pip(venv_python, "--no-deps", "--no-build-isolation", "-e", str(ROOT)):
            raise SetupError("pip could not install the fedavg_helpers package (its message is above)")
        version = check_cpu_build(venv_python)
    except SetupError as err:
        print(f"setup: {err}", file=sys.stderr)
        return 1
    print(f"setup: Python {sys.version.split()[0]}, torch {version} (CPU build, from {source}) in {args.venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
