# Two commands do all the set-up on a fresh machine with Python >= 3.11:
#   make run    executes every notebook headlessly into build/ (plus an HTML rendering)
#   make test   ruff (make lint), unit tests, then nbval on every notebook against its stored outputs
# The workshop kit: make site (build/site), make slides (build/slides), make test-site (both in headless Chromium),
# make wheelhouse (every pinned package into wheelhouse/, for a room without network).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SITE_STAMP := $(VENV)/.site-installed
ENGLISH := notebooks/*.ipynb
NOTEBOOKS := $(ENGLISH) notebooks/hi/*.ipynb
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
# quiet progress bars and single-threaded torch: reproducible outputs on any machine
export TQDM_DISABLE := 1
export OMP_NUM_THREADS := 1
export PYTHONHASHSEED := 0
# a ./wheelhouse (make wheelhouse) makes the set-up offline: pip installs from it and asks no index
ifneq ($(wildcard wheelhouse/*.whl),)
export PIP_FIND_LINKS := $(CURDIR)/wheelhouse $(PIP_FIND_LINKS)
export PIP_NO_INDEX := 1
endif

.PHONY: setup run test lint unit test-cpus test-slow lab bench clean site-setup site slides test-site browser wheelhouse

$(STAMP): requirements.txt pyproject.toml tools/setup_venv.py
	@test -n "$(PYTHON)" || { echo "setup: no python3.11 or python3 on PATH; install Python >= 3.11 or pass PYTHON=/path/to/python3"; exit 1; }
	$(PYTHON) tools/setup_venv.py --venv $(VENV) --torch-index $(TORCH_INDEX)
	touch $(STAMP)

setup: $(STAMP)

# the site's and slides' packages, on top of requirements.txt (they keep its pins but soupsieve's, see the file)
$(SITE_STAMP): $(STAMP) requirements-site.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-site.txt
	touch $(SITE_STAMP)

site-setup: $(SITE_STAMP)

run: setup
	$(BIN)/python tools/run_notebooks.py --out build $(NOTEBOOKS)

# The Hindi notebooks have the English code cells and stored outputs, character for character
# (tests/test_hindi_edition.py), so nbval runs the English ones. Tests run in TEST_WORKERS processes
# (pytest-xdist), each notebook's cells in one of them, in order; TEST_WORKERS=0 runs everything in this one.
TEST_WORKERS ?= 2
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: setup lint
	$(BIN)/python -m pytest -p no:cacheprovider $(PARALLEL) -m "not slow" tests $(ENGLISH) $(NBVAL)

# one ruff configuration (pyproject.toml) for the package, tests, tools, benchmarks, solutions and notebooks
lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests

# nbval again under PyTorch's other CPU kernels, MKL's compatible code path, and with the last bit of
# every initial weight flipped: a stored figure that depends on rounding fails here on any machine.
test-cpus: setup
	$(BIN)/python tools/test_cpus.py $(ENGLISH)

# what make test leaves out for time: the slow notebooks run twice in one kernel, and the worlds of worker
# processes (tests/test_processes.py, notebook 08's solutions); all are tests marked slow
test-slow: setup
	$(BIN)/python -m pytest -p no:cacheprovider $(PARALLEL) -m slow tests

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# the series as a static site from the stored outputs (nothing executed, nothing fetched), decks included
site: slides
	$(BIN)/python tools/build_site.py --out build/site

# a reveal.js deck per notebook, both editions, with reveal.js, MathJax and the font served from build/slides
slides: site-setup
	$(BIN)/python tools/slides.py --out build/slides $(NOTEBOOKS)

# every page and deck in headless Chromium; screenshots in build/site-screenshots (CI: after make browser as root)
test-site: site
	$(BIN)/python -m pytest -p no:cacheprovider docs/tests

# Debian's Chromium, its driver and a Devanagari font for JupyterLab (root only; says what is missing otherwise)
browser:
	tools/install_browser.sh

# every pinned package once, for installing in a room without network (see the site's teacher's guide);
# WHEEL_PYTHON=3.12 fetches the wheels for another Python than the venv's
wheelhouse: setup
	env -u PIP_NO_INDEX $(BIN)/python tools/wheelhouse.py --out wheelhouse --torch-index $(TORCH_INDEX) \
	  $(if $(WHEEL_PYTHON),--python-version $(WHEEL_PYTHON))

clean:
	rm -rf build .pytest_cache
