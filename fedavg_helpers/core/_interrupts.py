"""Hold a Ctrl-C (the notebook's stop button) until a short update is complete, so nothing is left half-done."""
import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_interrupt():
    """Run the block whole: a SIGINT arriving inside it raises KeyboardInterrupt only once the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # Ctrl-C is ignored here (nohup, a background job)
        yield
        return
    received = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # signals cannot be handled here (an embedded interpreter): nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if received:
            raise KeyboardInterrupt
