"""pytest's header names the CPU kernels this run used, so a failure says which kind of machine saw it."""
import os


def pytest_report_header(config):
    import torch

    chosen = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "FEDAVG_PERTURBED") if k in os.environ}
    forced = "; ".join(f"{k}={v}" for k, v in chosen.items()) or "nothing forced"
    return (f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()} ({forced}), "
            f"{torch.get_num_threads()} thread(s)")
