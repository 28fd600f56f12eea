"""Every test starts with no workers and the default privacy policy."""
import pytest

import fedavg_helpers as fh
from fedavg_helpers import worker as _worker


@pytest.fixture(autouse=True)
def fresh_federation():
    _worker._workers.clear()
    previous = fh.set_policy(fh.PrivacyPolicy())
    yield
    fh.set_policy(previous)
    _worker._workers.clear()
