# Two commands: `make demo` and `make test`. Both work on a fresh machine with
# Python 3.11 and root apt-get (they install ffmpeg, torch and torchcodec CPU builds).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCHCODEC_SPEC ?= torchcodec==0.13.0
DEMO_DIR ?= demo_output

.PHONY: apt-deps web-deps demo test test-slow docs lint format bench detector site-detectors readme label-screenshot web-screenshot system-deps browser-deps install install-dev clean

system-deps:
	@command -v ffmpeg >/dev/null 2>&1 || { \
		echo "installing ffmpeg (needed by torchcodec to decode audio)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg >/dev/null; }

# Debian's chromium and its driver for the pages' browser tests (tests/app/test_server_browser.py in make test,
# test_web_page.py and test_label_browser.py in make test-slow: they skip, saying why, where apt cannot).
browser-deps:
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || { \
		echo "installing chromium and chromium-driver (the pages' browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		{ $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			chromium chromium-driver >/dev/null; } || echo "could not install chromium: the browser tests will skip"; }

# onnxruntime-web for `respira export --web` (the page vendors it), from the npm registry, pinned; kept out
# of git in ~/.cache/respira (RESPIRA_ORT_WEB_DIR elsewhere: respira reads the same variable). Skips, saying
# so, where npm is missing. The version is respira.app.web_page.ORT_WEB_VERSION's.
ORT_WEB_VERSION ?= 1.30.0
RESPIRA_ORT_WEB_DIR ?= $(HOME)/.cache/respira/onnxruntime-web-$(ORT_WEB_VERSION)
export RESPIRA_ORT_WEB_DIR
web-deps:
	@[ -f $(RESPIRA_ORT_WEB_DIR)/ort-wasm-simd-threaded.wasm ] || { command -v npm >/dev/null 2>&1 && { \
		echo "fetching onnxruntime-web $(ORT_WEB_VERSION) (npm pack) into $(RESPIRA_ORT_WEB_DIR)"; \
		tmp=$$(mktemp -d) && (cd $$tmp && npm pack -q onnxruntime-web@$(ORT_WEB_VERSION) >/dev/null && tar xzf *.tgz) \
		&& mkdir -p $(RESPIRA_ORT_WEB_DIR) && cp $$tmp/package/dist/ort.wasm.min.js $$tmp/package/dist/ort-wasm-simd-threaded.mjs \
			$$tmp/package/dist/ort-wasm-simd-threaded.wasm $(RESPIRA_ORT_WEB_DIR)/ && rm -rf $$tmp; } \
		|| echo "could not fetch onnxruntime-web: respira export --web and its browser test will skip"; }

# uv installs (parallel downloads: a cold install in a fraction of pip's time, benchmarks/cold_test.py), told
# where pip finds wheels on this machine (PIP_FIND_LINKS or pip.conf's find-links: torch's CPU build).
UV_SPEC ?= uv==0.13.9
UV_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
# uv failing where pip works (another index, proxy or certificate setup): pip installs the same specs.
# No .pyc files compiled here (uv's default): a python writes those of the modules it imports, a fraction of
# the environment's (most of transformers' model files, for one, no command of respira imports).
install = $(if $(UV_FIND_LINKS),UV_FIND_LINKS="$(UV_FIND_LINKS)") $(BIN)/uv pip install -q \
	--python $(BIN)/python $(1) || { echo "uv could not install $(1): pip installs it"; $(BIN)/pip install -q $(1); }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# a venv made before respira installed with uv gets it on the next install
$(BIN)/uv: $(BIN)/python
	$(BIN)/pip install -q $(UV_SPEC)

# torch first, from the CPU build, so nothing below pulls CUDA wheels.
$(VENV)/.installed: $(BIN)/uv pyproject.toml
	$(call install,$(TORCH_SPEC))
	$(call install,$(TORCHCODEC_SPEC))
	$(call install,-e .)
	@touch $@

# The events extra's sed-scores-eval-np2 is published as source only: its two Cython modules, the longest part
# of the dev stack's install, are built at -O1 without debug information (about a third of the CPU of Python's
# own -O3 -g: benchmarks/sdist_build_flags.py), with the defines Python's flags carry. Your CXXFLAGS win.
DEV_CXXFLAGS ?= -O1 -g0 -DNDEBUG -fwrapv
$(VENV)/.installed-dev: $(VENV)/.installed
	export CXXFLAGS="$(or $(CXXFLAGS),$(DEV_CXXFLAGS))"; $(call install,-e ".[dev]")
	@touch $@

# The bytecode of what respira imports (torch, transformers, datasets and every command's module), written by
# one python as soon as they are installed, on the core the dev stack's install leaves idle: make test's two
# pytest workers then read it instead of both compiling it at once. A failure only leaves the compiling to them.
$(VENV)/.bytecode: $(VENV)/.installed
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -c "import respira.cli; respira.cli.build_parser()" >/dev/null 2>&1 || true
	@touch $@

# ffmpeg and chromium in one apt-get (one index update) where both are missing; then each target as above
# (a no-op once installed; else its own try: ffmpeg must install, chromium may fail).
apt-deps:
	@need="$$(command -v ffmpeg >/dev/null 2>&1 || echo ffmpeg)"; \
	{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || need="$$need chromium chromium-driver"; \
	[ -z "$$(echo $$need)" ] || { echo "installing $$(echo $$need)"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need \
		>/dev/null; } || true
	@$(MAKE) --no-print-directory system-deps browser-deps

install: system-deps $(VENV)/.installed
# apt, npm and the Python stack side by side (three downloads that share nothing), the bytecode beside them
install-dev:
	@$(MAKE) --no-print-directory -j4 apt-deps web-deps $(VENV)/.installed-dev $(VENV)/.bytecode

demo: install
	$(BIN)/respira demo --output_dir $(DEMO_DIR) --overwrite

# Two pytest-xdist workers of one torch thread each, a test file on one worker in file order (the docs'
# pages share a folder across blocks): the suite is mostly single-threaded Python and process start-up.
# PYTHONDONTWRITEBYTECODE emptied (CI images and this project's machines set it): the first process to import a
# module writes its .pyc, and every later python the tests start reads it instead of compiling torch anew.
# NUMBA_OPT=0: librosa (the signal tests' reference, never imported by src/) compiles its numba kernels when
# its core is first loaded, once per fresh environment; unoptimised, in two thirds of the CPU time, same results.
# make test leaves out the tests marked slow (the costliest end-to-end checks), as transformers leaves its slow
# tests to RUN_SLOW: make test-slow runs them, RUN_SLOW=1 make test runs everything, and .ci/run runs both.
TEST_WORKERS ?= 2
PYTEST = PYTHONDONTWRITEBYTECODE= NUMBA_OPT=0 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile
test: install-dev
	$(PYTEST) $(if $(filter 1 yes true,$(RUN_SLOW)),,-m "not slow") $(PYTEST_ARGS)
	$(BIN)/ruff check src tests benchmarks studies scripts
	$(BIN)/ruff format --check src tests benchmarks studies scripts
	$(BIN)/lint-imports --no-cache

test-slow: install-dev
	$(PYTEST) -m slow $(PYTEST_ARGS)

# The documentation site, warnings as errors (-W; --keep-going lists them all), nitpicky (-n: every cross
# reference must resolve), a fresh environment (-E: every page read again, so no warning is skipped).
docs: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/sphinx-build -W --keep-going -n -E -q -b html docs docs/_build/html

lint: install-dev
	$(BIN)/ruff check src tests benchmarks studies scripts
	$(BIN)/ruff format --check src tests benchmarks studies scripts
	$(BIN)/lint-imports --no-cache

format: install-dev
	$(BIN)/ruff check --fix src tests benchmarks studies scripts
	$(BIN)/ruff format src tests benchmarks studies scripts

# Rebuild the shipped detector (src/respira/pretrained/icbhi-crackle-wheeze) from ../shared: cross-validation,
# training on the ICBHI patients of icbhi/, its head refitted by fit-site on all 65 ICBHI patients (icbhi/ and
# icbhi_cycles/, --chosen_by the leave-one-site-out study), held-out KAUH and SPRSound for both, the card; then
# the site detectors fitted from it.
detector: install
	$(BIN)/python scripts/build_detector.py
	$(BIN)/python scripts/build_site_detectors.py

# The shipped site detectors (src/respira/pretrained/sprsound-crackle-wheeze): respira fit-site of the ICBHI
# detector on ../shared/kauh and ../shared/sprsound, shipped only where fit-site's out-of-sample rule
# applies (on KAUH it does not: nothing is written for it).
site-detectors: install
	$(BIN)/python scripts/build_site_detectors.py

# README's picture (respira predict --plot of the shipped detector on a KAUH recording of ../shared) and its
# results table (the shipped detector's card table, rendered from its evaluation files).
readme: install
	$(BIN)/python scripts/readme_assets.py

# The labelling page's screenshot in the serve-your-site tutorial (respira label on KAUH recordings of
# ../shared, in Debian's headless chromium).
label-screenshot: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/label_page_screenshot.py

# The browser page's screenshot in the private-screening how-to (respira export --web of the shipped
# detector on a KAUH recording of ../shared, in Debian's headless chromium).
web-screenshot: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/web_page_screenshot.py

bench: install
	# cold_test.py clones and tests the whole project (make test's own cost): run it on its own
	for script in benchmarks/*.py; do [ $$script = benchmarks/cold_test.py ] && continue; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache docs/_build
