"""Start, watch and stop the worker processes: one OS process per worker, the model owner as RPC rank 0.

Why it is built this way (each point was measured on 2-core machines):
- workers start with subprocess (python -m fedavg_helpers.core.transport), so nothing is forked from a
  process that already runs torch threads, and each is a plain pid we can kill;
- the rendezvous is a file (file:// init_method), so no store listens on any network interface, and
  TensorPipe and Gloo are pinned to one interface ("lo" by default: they listen on loopback only; on one
  machine TensorPipe may also use shared memory), set in os.environ while the world runs and restored after;
- the model owner holds handle numbers, not RRefs: an RRef owned by a dead worker blocks rpc.shutdown
  for minutes, a number does not;
- shutdown is coordinated and non-graceful (every live worker is told to stop, then all leave without
  rpc's all-gather), then any process still alive after stop_timeout is killed by pid: no hang, no orphan.
"""
import atexit
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass

import torch.distributed.rpc as rpc

from .._interrupts import deferred_interrupt
from ..errors import PointerError, WorkerError, WorkerLost, WorkerTimeout
from ..policy import PrivacyPolicy
from . import host

MODEL_OWNER = "model_owner"
_DEAD_SIGNS = ("eof", "ECONNREFUSED", "ECONNRESET", "onnection reset", "pipe closed", "shut down")  # rpc's words


@dataclass(frozen=True)
class ProcessConfig:
    """How worker processes start, talk and stop; every time is in seconds."""

    timeout: float = 30.0  # a request taking longer raises fh.WorkerTimeout (the worker is left running)
    start_timeout: float = 120.0  # every process must have started and joined by then
    stop_timeout: float = 5.0  # shutdown waits this long for processes to leave, then kills them
    interface: str = "lo"  # the network interface TensorPipe and Gloo use; "lo" keeps everything on loopback
    init_method: str | None = None  # the rendezvous; None: a file in a fresh temporary directory (no listener)
    transports: tuple | None = None  # TensorPipe's transports, e.g. ("uv",) for TCP only; None: shared memory too
    channels: tuple | None = None  # TensorPipe's channels for tensors, e.g. ("basic",) to send them over the transport

    def __post_init__(self):
        for name in ("timeout", "start_timeout", "stop_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Invalid {name}: {value!r}. It is a number of seconds and must be positive.")
        if not isinstance(self.interface, str) or not self.interface:
            raise TypeError(f"interface must be a network interface's name such as 'lo', got {self.interface!r}")


_current: "list[World]" = []  # the running world (at most one: torch.distributed.rpc is one per process)


class World:
    """The model owner's view of the worker processes: who is alive, and how to reach each one."""

    def __init__(self, names, trusted, config: ProcessConfig, policy: PrivacyPolicy):
        self.names, self.trusted, self.config, self.policy = list(names), set(trusted), config, policy
        self.processes: dict[str, subprocess.Popen] = {}
        self.lost: dict[str, str] = {}  # worker name -> why it is lost
        self.closed = False
        self._traffic = {"sent": {}, "received": {}}  # bytes we sent to / received from each worker, this world
        self.workers: dict = {}  # name -> RemoteWorker (filled in by spawn_workers)
        self._freed: dict[str, list] = {n: [] for n in self.names}  # handles to free with the next request
        self._tmp = None
        self._saved_environ: dict[str, str | None] | None = None  # the caller's values of the variables we set

    # ---- as the notebook sees it: a context manager, and the workers in order ----
    def __enter__(self):
        return tuple(self)

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return iter([self.workers[n] for n in self.names])

    def __len__(self):
        return len(self.names)

    def __getitem__(self, name):
        if name not in self.workers:
            raise WorkerError(f"no worker process is named {name!r} (workers: {', '.join(self.names)})")
        return self.workers[name]

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self.alive())} of {len(self.names)} processes alive"
        return f"<World of worker processes {', '.join(self.names)}: {state}>"

    def traffic(self) -> dict:
        """Bytes each process sent and received in this world, as each counted its own requests and replies."""
        table = {MODEL_OWNER: {k: sum(v.values()) for k, v in self._traffic.items()}}
        for name in self.alive():
            counts = self.call(name, "stats", ())[1]["traffic"]
            table[name] = {k: sum(v.values()) for k, v in counts.items()}
        return table

    # ---- start ----
    def start(self) -> None:
        config = self.config
        self._tmp = tempfile.mkdtemp(prefix="fedavg-world-")
        init_method = config.init_method or f"file://{os.path.join(self._tmp, 'rendezvous')}"
        self._set_interface()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), TORCH_CPP_LOG_LEVEL="ERROR",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._quiet = _QuietPeerWarnings()
        for rank, name in enumerate(self.names, start=1):
            settings = {"name": name, "rank": rank, "world_size": len(self.names) + 1, "names": self.names,
                        "trusted": sorted(self.trusted), "init_method": init_method, "timeout": config.timeout,
                        "start_timeout": config.start_timeout, "parent": os.getpid(),
                        "transports": _transports(config), "channels": _channels(config),
                        # rpc counts, per process, how often it started and gathered: a new world in this process
                        # must start its fresh workers at our counts, or they wait for each other for ever
                        "init_counter": rpc._init_counter, "gathers": dict(rpc.api._all_gather_sequence_id),
                        "policy": {"min_contributors": self.policy.min_contributors,
                                   "allow_scalar_metrics": self.policy.allow_scalar_metrics,
                                   "strict": self.policy.strict}}
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "fedavg_helpers.core.transport", json.dumps(settings)],
                env=env, stdin=subprocess.DEVNULL, stderr=self._quiet.original, cwd=os.getcwd())
        options = rpc.TensorPipeRpcBackendOptions(init_method=init_method, rpc_timeout=config.start_timeout,
                                                  num_worker_threads=8, _transports=_transports(config),
                                                  _channels=_channels(config))
        # rpc bounds only part of its start-up by rpc_timeout; if a process never joins, killing them all at the
        # deadline turns the wait into a connection error
        watchdog = threading.Timer(config.start_timeout, self._kill_all)
        watchdog.daemon = True
        watchdog.start()
        try:
            with warnings.catch_warnings():  # rpc's own Gloo group warns about a deprecated usage of itself
                warnings.simplefilter("ignore")
                rpc.init_rpc(MODEL_OWNER, rank=0, world_size=len(self.names) + 1, rpc_backend_options=options)
        except BaseException as err:
            watchdog.cancel()
            self._kill_all()
            self._quiet.close()
            self.closed = True
            self._restore_environ()
            shutil.rmtree(self._tmp, ignore_errors=True)
            if isinstance(err, KeyboardInterrupt):
                raise
            dead = {n: p.returncode for n, p in self.processes.items() if p.returncode is not None}
            raise RuntimeError(f"the worker processes did not all start within {config.start_timeout} s "
                               f"(exited early: {dead or 'none'}): {err}") from None
        watchdog.cancel()
        rpc._set_rpc_timeout(config.timeout)
        _current.append(self)
        for name in self.names:  # alive and answering
            self.call(name, "ping", ())

    # ---- talk ----
    def check_usable(self, name: str) -> None:
        if self.closed:
            raise PointerError(f"the worker processes were shut down (the world was closed), so {name} and "
                               "its objects are gone. Start new workers and send again.")
        if name in self.lost:
            raise WorkerLost(f"worker {name} is lost ({self.lost[name]}); its objects are gone. Carry on with "
                             "the other workers.", worker=name)
        if name not in self.processes:
            raise WorkerError(f"no worker process is named {name!r} (workers: {', '.join(self.names)})")

    def call(self, name: str, op: str, args, timeout: float | None = None):
        """Run a request in a worker's process and return its reply; its errors are raised here as they were."""
        self.check_usable(name)
        freed, self._freed[name] = self._freed[name], []
        try:
            blob = pickle.dumps((freed, op, args))
        except Exception as err:
            raise TypeError(f"cannot send this request to {name}: {err}. Functions and classes a worker runs must "
                            "be defined at module level in an importable .py file (not lambdas or closures).") from None
        self._count("sent", name, len(blob))
        timeout = self.config.timeout if timeout is None else timeout
        done = threading.Event()
        future = rpc.rpc_async(name, host.serve, args=(host.wrap(blob), MODEL_OWNER), timeout=timeout)
        future.then(lambda _: done.set())
        while not done.wait(0.1):  # short waits: Ctrl-C gets through, and a dead process is noticed at once
            if self.processes[name].poll() is not None:
                done.wait(1.0)  # its connection error is on its way
                if not done.is_set():
                    raise self._lose(name, None)
        try:
            out = host.unwrap(future.wait())
        except RuntimeError as err:
            raise self._fault(name, err, timeout) from None
        self._count("received", name, len(out))
        status, *rest = pickle.loads(out)
        if status == "error":
            raise host.rebuild_error(*rest)
        return rest[0]

    def _count(self, direction: str, name: str, nbytes: int) -> None:
        table = self._traffic[direction]
        table[name] = table.get(name, 0) + nbytes

    def _fault(self, name: str, err: RuntimeError, timeout: float) -> Exception:
        message = str(err)
        if "timeout" in message:
            if self.processes[name].poll() is None:
                return WorkerTimeout(f"worker {name} did not answer within {timeout:g} s; it is still running (busy "
                                     "or stuck). Leave it out of this round, or give it more time "
                                     "(fh.ProcessConfig(timeout=...)).", worker=name)
        if self.processes[name].poll() is not None or any(sign in message for sign in _DEAD_SIGNS):
            return self._lose(name, message)
        return RuntimeError(f"a request to {name} failed: {message}")

    def _lose(self, name: str, message: str | None) -> WorkerLost:
        process = self.processes[name]
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:  # unreachable but running: it cannot be trusted any more
            process.kill()
            process.wait()
        code = process.returncode
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}")
        self.lost[name] = f"its process {how}"
        return WorkerLost(f"worker {name} is lost: its process {how}. Its objects are gone; the other workers "
                          "are still usable.", worker=name)

    def free(self, name: str, number: int) -> None:
        if not self.closed and name not in self.lost:
            self._freed[name].append(number)

    def alive(self) -> list[str]:
        """The workers whose processes still run and were not lost."""
        return [n for n in self.names if n not in self.lost and self.processes[n].poll() is None]

    # ---- stop ----
    def close(self) -> None:
        """Stop every worker process, in bounded time, whatever state they are in."""
        if self.closed:
            return
        with deferred_interrupt():
            self.closed = True
            if self in _current:
                _current.remove(self)
            futures = []
            for name in self.alive():
                try:
                    blob = pickle.dumps(([], "stop", ()))
                    futures.append(rpc.rpc_async(name, host.serve, args=(blob, MODEL_OWNER), timeout=2))
                except Exception:
                    pass
            for future in futures:
                try:
                    future.wait()
                except Exception:
                    pass
            stopper = threading.Thread(target=_shutdown_rpc, daemon=True)
            stopper.start()
            deadline = time.monotonic() + self.config.stop_timeout
            for process in self.processes.values():
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            self._kill_all()
            stopper.join(self.config.stop_timeout)
            self._quiet.close()
            self._restore_environ()
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ---- the network interface, through the environment (rpc reads it when this process's agent starts) ----
    _INTERFACE_VARS = ("TP_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")

    def _set_interface(self) -> None:
        if self._saved_environ is None:
            self._saved_environ = {var: os.environ.get(var) for var in self._INTERFACE_VARS}
        for var in self._INTERFACE_VARS:
            os.environ[var] = self.config.interface

    def _restore_environ(self) -> None:
        """Give the caller's process back the values it had before this world started."""
        if self._saved_environ is None:
            return
        for var, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        self._saved_environ = None

    def _kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


class _QuietPeerWarnings:
    """Drop TensorPipe's C++ warnings about a peer that left (we detect and report that as fh.WorkerLost);
    everything else written to this process's stderr (file descriptor 2) passes through unchanged.

    torch reads its C++ log level only when it is imported, so in our process (which imported torch long
    before) the warnings are filtered from a pipe; the workers start with TORCH_CPP_LOG_LEVEL=ERROR instead.
    """

    def __init__(self):
        self.original = None
        try:
            self.original = os.dup(2)
            read_end, write_end = os.pipe()
            os.dup2(write_end, 2)
            os.close(write_end)
        except OSError:  # no stderr to filter
            self.original = None
            return
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self._thread.start()

    def _pump(self, fd: int) -> None:
        pending = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [line for line in lines if b"tensorpipe_agent.cpp" not in line]
            if kept:
                os.write(self.original, b"\n".join(kept) + b"\n")
        if pending:
            os.write(self.original, pending)
        os.close(fd)

    def close(self) -> None:
        if self.original is None:
            return
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(self.original, 2)  # the pipe's last writer is gone: the pump sees its end
        self._thread.join(1.0)
        os.close(self.original)
        self.original = None


def _transports(config: ProcessConfig):
    return None if config.transports is None else list(config.transports)


def _channels(config: ProcessConfig):
    return None if config.channels is None else list(config.channels)


def _shutdown_rpc() -> None:
    try:
        rpc.shutdown(graceful=False)
    except Exception:
        pass


def close_running() -> None:
    """Stop the running world, if any (a new one replaces it; the interpreter's exit ends it)."""
    for world in list(_current):
        world.close()


atexit.register(close_running)
