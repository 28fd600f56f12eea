# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    executes every notebook headlessly into build/ (plus an HTML rendering)
#   make test   unit tests, then nbval on every notebook (English and Hindi) against its stored outputs
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := notebooks/*.ipynb notebooks/hi/*.ipynb
# quiet progress bars and single-threaded torch: reproducible outputs on any machine
export TQDM_DISABLE := 1
export OMP_NUM_THREADS := 1
export PYTHONHASHSEED := 0

.PHONY: setup run test unit notebooks lab bench clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is needed, found {sys.version.split()[0]}; set PYTHON=/path/to/python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python tools/run_notebooks.py --out build $(NOTEBOOKS)

test: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests $(NOTEBOOKS) --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg

unit: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build .pytest_cache
