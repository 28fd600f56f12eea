"""The notebooks' measured run times, kept in build/run_times.json by whatever runs them (make run, the rerun test).

Each record keeps a fingerprint of the notebook's code, so a time measured before the code changed no longer
counts. tests/test_run_times.py checks the records against each notebook's stated minutes_to_run.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATH = ROOT / "build" / "run_times.json"


def code_fingerprint(path: pathlib.Path) -> str:
    """A short hash of the notebook's code cells, in order."""
    nb = nbformat.read(path, as_version=4)
    code = "\n\x00\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def _key(path: pathlib.Path) -> str:
    path = pathlib.Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@contextlib.contextmanager
def _locked(store: pathlib.Path):
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(store.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record(path: pathlib.Path, seconds: float, how: str, store: pathlib.Path = PATH) -> None:
    """Keep seconds as the notebook's latest run time (safe with several test workers writing at once)."""
    with _locked(store):
        times = load(store)
        times[_key(path)] = {"seconds": round(seconds, 1), "code": code_fingerprint(path), "how": how}
        temporary = store.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(store)


def load(store: pathlib.Path = PATH) -> dict:
    """Every record, by notebook path relative to the repository."""
    try:
        return json.loads(store.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def current(path: pathlib.Path, times: dict) -> dict | None:
    """The record of the notebook at path, if it was measured with the code it has now."""
    entry = times.get(_key(path))
    return entry if entry and entry.get("code") == code_fingerprint(path) else None


def over_budget(notebooks, times: dict) -> list[str]:
    """One line per notebook whose current measured time exceeds its metadata's minutes_to_run."""
    found = []
    for nb in notebooks:
        entry = current(nb.path, times) if nb.meta else None
        if entry and entry["seconds"] > 60 * nb.meta["minutes_to_run"]:
            found.append(f"{nb.name} ran in {entry['seconds']:.0f} s ({entry['how']}), more than its stated "
                         f"minutes_to_run of {nb.meta['minutes_to_run']:g}: make it faster or raise minutes_to_run "
                         "in its metadata (both editions) and the first cell")
    return found
