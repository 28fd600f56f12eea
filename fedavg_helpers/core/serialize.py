"""Turn objects into bytes and back, as a real transport would, so no Python object is shared."""
import io
import pickle

import torch


def _compact(obj):
    """Clone tensor views so only their own elements travel (torch.save writes a view's whole storage)."""
    if isinstance(obj, torch.nn.Parameter):
        return obj
    if isinstance(obj, torch.Tensor):
        if obj._base is not None or obj.untyped_storage().nbytes() != obj.numel() * obj.element_size():
            return obj.detach().clone().requires_grad_(obj.requires_grad)
        if obj.grad_fn is not None:  # a non-leaf: send its value, as a leaf like the original asked for
            return obj.detach().requires_grad_(obj.requires_grad)
        return obj
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_compact(x) for x in obj)
    if type(obj) is dict:
        return {k: _compact(v) for k, v in obj.items()}
    return obj


def dumps(obj) -> bytes:
    """Serialize obj to bytes, or raise TypeError naming the object that cannot travel."""
    buf = io.BytesIO()
    try:
        torch.save(_compact(obj), buf)
    except (pickle.PicklingError, TypeError, AttributeError, RuntimeError) as e:
        raise TypeError(
            f"cannot send a {type(obj).__name__}: it cannot be serialized ({e}). "
            "Send tensors, modules, optimizers' classes or plain Python data; "
            "define functions at module level instead of as lambdas or closures."
        ) from None
    return buf.getvalue()


def loads(blob: bytes):
    """Rebuild an object from bytes made by dumps."""
    return torch.load(io.BytesIO(blob), weights_only=False)
