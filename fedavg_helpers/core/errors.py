"""The exceptions fedavg_helpers raises, each a subclass of the built-in a Python user would catch."""


class PrivacyError(PermissionError):
    """A request would reveal a data owner's private data (or a model trained on it) to the caller."""


class LocationError(ValueError):
    """An operation mixes objects that live on different workers."""


class PointerError(RuntimeError):
    """A pointer was used after its object was fetched with .get() or moved away."""


class WorkerError(ValueError):
    """A worker name is unknown, taken twice, or something that is not a worker was given as one."""


class WorkerLost(RuntimeError):
    """A worker's process died or became unreachable; its objects are gone and its pointers no longer work."""

    def __init__(self, message: str, worker: str | None = None):
        super().__init__(message)
        self.worker = worker


class WorkerTimeout(TimeoutError):
    """A worker's process did not answer within the timeout; it may still be busy (a straggler) or stuck."""

    def __init__(self, message: str, worker: str | None = None):
        super().__init__(message)
        self.worker = worker
