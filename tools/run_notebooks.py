"""Execute notebooks headlessly in fresh kernels; write the executed copies and HTML renderings to --out."""
import argparse
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

try:
    from tools import run_times
except ImportError:  # run as a script from tools/
    import run_times

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(argv=None):
    # the kernels inherit these: no progress bars in stored outputs, one thread for reproducible numbers
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "build")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run")
    parser.add_argument("--inplace", action="store_true",
                        help="store the outputs in the notebooks themselves (after editing one), no HTML")
    args = parser.parse_args(argv)
    exporter = HTMLExporter()
    written = []
    for path in sorted(args.notebooks):
        path = path.resolve()
        rel = path.relative_to(ROOT / "notebooks")
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3", record_timing=False,
                       extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        print(f"ran {rel} in {seconds:.1f} s", flush=True)
        run_times.record(path, seconds, "tools/run_notebooks.py, kernel start included")
        if args.inplace:
            nbformat.write(nb, path)
            continue
        target = args.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        html, _ = exporter.from_notebook_node(nb)
        target.with_suffix(".html").write_text(html, encoding="utf-8")
        written.append(target)
    if args.inplace:
        return 0
    print(f"\n{len(written)} notebooks executed. Executed copies and HTML are in {args.out.resolve()}/:")
    for target in written:
        print(f"  {target}  and  {target.with_suffix('.html')}")


if __name__ == "__main__":
    sys.exit(main())
