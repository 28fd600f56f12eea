"""Check the notebooks' stored outputs under CPU kernels other than this machine's own.

PyTorch picks its vectorised kernels (plain, AVX2, AVX-512) by CPU, and MKL picks its code path too;
each rounds differently. A printed figure that depends on that rounding would pass on one machine and
fail on another, so this runs nbval once per kernel set this CPU can execute, other than the native one
that `make test` already covers, plus once with the last bit of every initial weight flipped at random:
a stand-in for CPUs that are not here (ARM, for instance), since a figure that survives a one-ulp
change of the starting point does not amplify rounding.
"""
import argparse
import os
import pathlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "test-cpus"
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg")]
LEVELS = ["default", "avx2", "avx512"]  # ATEN_CPU_CAPABILITY values, weakest first

# Run in every kernel of the perturbed configuration: flip the last bit of each weight nn.Linear initialises.
# The direction of each step comes from the weight's own last bit, not from a random stream, so the same
# initial weights always get the same perturbation, however many modules the kernel made before.
PERTURB = '''import torch
_reset = torch.nn.Linear.reset_parameters


def _reset_one_ulp_off(self):
    _reset(self)
    with torch.no_grad():
        for p in (self.weight, self.bias):
            if p is not None and p.dtype == torch.float32:
                up = (p.view(torch.int32) & 1).bool()
                p.copy_(torch.where(up, torch.nextafter(p, p + 1), torch.nextafter(p, p - 1)))


torch.nn.Linear.reset_parameters = _reset_one_ulp_off
'''


def configurations(native: str) -> dict[str, dict[str, str]]:
    """The environments to run: each ATen level the CPU supports except the native one, and the perturbed run."""
    native = native.lower()
    runnable = LEVELS[: LEVELS.index(native) + 1] if native in LEVELS else ["default"]
    configs = {}
    for level in runnable:
        if level == native:
            continue
        env = {"ATEN_CPU_CAPABILITY": level}
        if level == "default":  # plain kernels everywhere: MKL's compatible code path as well
            env["MKL_CBWR"] = "COMPATIBLE"
        configs[level] = env
    ipython = OUT / "ipython-perturbed"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-one-ulp.py").write_text(PERTURB)
    configs["one-ulp"] = {"IPYTHONDIR": str(ipython), "FEDAVG_PERTURBED": "last bit of every initial weight"}
    return configs


def run(name: str, extra_env: dict[str, str], notebooks: list[str]) -> tuple[str, int, pathlib.Path]:
    """nbval on the notebooks under extra_env; the log goes to build/test-cpus/<name>.log."""
    log = OUT / f"{name}.log"
    env = {**os.environ, **extra_env}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *notebooks, *NBVAL]
    with open(log, "w") as f:
        code = subprocess.run(command, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    return name, code, log


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--jobs", type=int, default=2, help="configurations run at once")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    native = torch.backends.cpu.get_cpu_capability()
    configs = configurations(native)
    print(f"native CPU capability {native} (covered by make test); now: " +
          "; ".join(f"{name} ({' '.join(f'{k}={v}' for k, v in env.items())})" for name, env in configs.items()),
          flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda item: run(*item, args.notebooks), configs.items()))
    failed = 0
    for name, code, log in results:
        summary = log.read_text().strip().splitlines()[-1] if log.stat().st_size else "(no output)"
        print(f"{name:8} {'ok' if code == 0 else 'FAILED'}: {summary}  [{log.relative_to(ROOT)}]")
        if code:
            failed += 1
            print(log.read_text()[-6000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
