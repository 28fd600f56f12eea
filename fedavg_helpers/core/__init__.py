"""The core: virtual workers, pointers that run code where the data lives, the privacy policy, trusted averaging.

worker.py (a machine and its store), pointer.py (handles and remote calls), provenance.py (what an object
depends on), policy.py (what may leave a worker), ledger.py (each contribution aggregated once under the
strict policy), averaging.py (averages on a trusted worker), serialize.py (objects as bytes), diagram.py;
transport/ puts each worker in its own OS process (torch.distributed.rpc) behind the same API.
"""
from .errors import LocationError, PointerError, PrivacyError, WorkerError, WorkerLost, WorkerTimeout
from .policy import PrivacyPolicy, get_policy, set_policy
from .worker import VirtualWorker, get_worker
from .pointer import Pointer, send, remote
from .averaging import secure_average, average_losses
from .diagram import draw_round, draw_workers, worker_colour
from .transport import spawn_workers, ProcessConfig, RemoteWorker, RemotePointer
