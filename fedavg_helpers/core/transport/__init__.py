"""Workers as real OS processes over torch.distributed.rpc: the same notebook code, one process per worker.

world.py starts, watches and stops the processes; host.py is what runs inside each worker's process (a
real VirtualWorker and its policy); proxy.py holds the model owner's RemoteWorker and RemotePointer.
"""
from .. import pointer as _pointer
from ..errors import WorkerError
from ..policy import PrivacyPolicy, get_policy
from .proxy import RemotePointer, RemoteWorker, remote_call
from .world import MODEL_OWNER, ProcessConfig, World, close_running


def spawn_workers(names, trusted=(), config: ProcessConfig | None = None, policy: PrivacyPolicy | None = None):
    """Start one OS process per worker and return the running World of their RemoteWorkers, in `names` order.

    `with fh.spawn_workers(["bob", "alice", "secure_worker"], trusted=["secure_worker"]) as (bob, alice,
    secure_worker):` stops every process when the block ends, by an error, Ctrl-C or a dead worker alike.
    Outside a with block (a notebook spanning cells), unpack it, `bob, alice, secure_worker = workers`, and
    call workers.close() at the end; a new world, or the end of the Python process, closes it too. The
    processes listen on loopback only unless config says otherwise, and each enforces `policy` (default:
    fh.get_policy() now) itself.
    """
    return start_world(names, trusted, config, policy)


def start_world(names, trusted=(), config: ProcessConfig | None = None, policy: PrivacyPolicy | None = None):
    """Check the names, then start the worker processes and return the World."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise WorkerError(f"names must be a non-empty list of worker names such as ['bob', 'alice'], got {names!r}")
    if isinstance(trusted, str) or not isinstance(trusted, (list, tuple, set, frozenset)):
        raise WorkerError(f"trusted must be a list of worker names, got {trusted!r}")
    seen = set()
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise WorkerError(f"a worker's name must be a Python identifier such as 'bob', got {name!r}")
        if name == MODEL_OWNER:
            raise WorkerError(f"{MODEL_OWNER!r} is the name of our own process (the model owner); pick another")
        if name in seen:
            raise WorkerError(f"the worker name {name!r} is used twice; each worker process needs its own name")
        seen.add(name)
    unknown = [t for t in trusted if t not in seen]
    if unknown:
        raise WorkerError(f"trusted names {unknown} are not among the workers {list(names)}")
    config = ProcessConfig() if config is None else config
    if not isinstance(config, ProcessConfig):
        raise TypeError(f"config must be a fh.ProcessConfig, got {type(config).__name__}")
    policy = get_policy() if policy is None else policy
    if not isinstance(policy, PrivacyPolicy):
        raise TypeError(f"policy must be a fh.PrivacyPolicy, got {type(policy).__name__}")
    close_running()  # one world per process: a new one replaces the last (re-running a cell does that)
    world = World(names, trusted, config, policy)
    world.workers = {n: RemoteWorker(world, n) for n in names}
    world.start()
    return world


_pointer._process_call = remote_call  # fh.remote(...) with pointers into worker processes runs there

__all__ = ["spawn_workers", "World", "ProcessConfig", "RemoteWorker", "RemotePointer", "remote_call"]
