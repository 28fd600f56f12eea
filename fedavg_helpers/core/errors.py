"""The exceptions fedavg_helpers raises, each a subclass of the built-in a Python user would catch."""


class PrivacyError(PermissionError):
    """A request would reveal a data owner's private data (or a model trained on it) to the caller."""


class LocationError(ValueError):
    """An operation mixes objects that live on different workers."""


class PointerError(RuntimeError):
    """A pointer was used after its object was fetched with .get() or moved away."""


class WorkerError(ValueError):
    """A worker name is unknown, taken twice, or something that is not a worker was given as one."""
