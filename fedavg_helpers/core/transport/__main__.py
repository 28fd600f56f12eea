"""A worker's process starts here: python -m fedavg_helpers.core.transport '<json settings>' (see host.main)."""
import json
import sys

from fedavg_helpers.core.transport import host

host.main(json.loads(sys.argv[1]))
