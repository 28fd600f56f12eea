"""Download every pinned package once into wheelhouse/, so a room without network can install the series.

    python tools/wheelhouse.py --out wheelhouse       (make wheelhouse)

requirements.txt and requirements-site.txt as wheels for this machine's platform and Python (or --python-version),
and the CPU build of torch from where the set-up finds it: a local wheel pip knows (its find-links), else
PyTorch's CPU index. Then, offline: pip install --no-index --find-links wheelhouse -r requirements.txt (make setup
does that by itself when ./wheelhouse holds wheels).
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

try:
    from tools import setup_venv
except ImportError:  # run as a script from tools/
    import setup_venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-site.txt"]


def download(out: pathlib.Path, *args: str) -> bool:
    """pip download into out; True if it worked."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--no-deps", "-d", str(out), *args]
    return subprocess.run(command).returncode == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "wheelhouse")
    parser.add_argument("--torch-index", default=setup_venv.CPU_INDEX)
    parser.add_argument("--python-version", help="e.g. 3.12: wheels for another Python than this one")
    args = parser.parse_args(argv)
    target = ["--python-version", args.python_version] if args.python_version else []
    args.out.mkdir(parents=True, exist_ok=True)
    pin = setup_venv.torch_pin(ROOT / "requirements.txt")
    if not (download(args.out, *target, "--no-index", pin) or
            download(args.out, *target, "--index-url", args.torch_index, pin)):
        print(f"wheelhouse: could not download the CPU build of {pin} (no local wheel, and {args.torch_index} did "
              "not provide one); set TORCH_INDEX or PIP_FIND_LINKS", file=sys.stderr)
        return 1
    for requirements in REQUIREMENTS:  # one at a time: the site's file overrides a pin of the other
        with tempfile.TemporaryDirectory() as tmp:
            rest = pathlib.Path(tmp) / requirements.name
            lines = [line for line in requirements.read_text().splitlines()
                     if line.strip() and not line.startswith("#") and line.strip() != pin]
            rest.write_text("\n".join(lines) + "\n")
            if not download(args.out, *target, "-r", str(rest)):
                print(f"wheelhouse: pip could not download every pin of {requirements.name} (its message is above)",
                      file=sys.stderr)
                return 1
    wheels = sorted(args.out.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"wheelhouse: {len(wheels)} wheels, {size:.0f} MiB in {args.out}/; copy it with the project, then "
          "make setup installs from it without network")
    return 0


if __name__ == "__main__":
    sys.exit(main())
