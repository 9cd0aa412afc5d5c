# Everything runs inside .venv, created from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
export NO_MKDOCS_2_WARNING := 1

# On Linux, x86-64 and arm64 alike, PyPI's torch is a CUDA build (gigabytes of libraries this
# site never uses): the set-up installs the CPU build from PyTorch's index first.
# TORCH_INDEX=<url> selects another build; TORCH_INDEX= (empty) takes PyPI's. On macOS,
# PyPI's wheel is the CPU build.
ifeq ($(shell uname -s),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif
TORCH_PIN := $(shell grep '^torch==' requirements.txt)

.PHONY: serve build test test-browser test-portable test-a11y bench clean

serve: $(VENV)/.installed ## live-reloading site on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

build: $(VENV)/.installed ## strict build into site/
	$(BIN)/mkdocs build

test: $(VENV)/.installed ## tests, code blocks, snippets, notebooks and the strict build
	$(BIN)/pytest

# Each snippet runs once per change, for the build and the tests alike; test-portable also runs
# each a second time, to check that it redraws its figure byte for byte.
test-browser: $(VENV)/.installed ## the built site in Chromium: figure text, requests, explorer
	$(BIN)/pytest -m 'browser and not a11y'

test-portable: $(VENV)/.installed ## the same with other kernels, and every figure redrawn
	NUMERICS=portable $(BIN)/pytest -m 'not a11y'

test-a11y: $(VENV)/.installed ## accessibility audit (axe-core in Chromium) of every page
	$(BIN)/pytest -m a11y

bench: $(VENV)/.installed ## build and test timings, page weights
	$(BIN)/python tools/bench.py

clean:
	rm -rf site .cache .pytest_cache

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(PIP) --no-deps "$(TORCH_PIN)" --index-url "$(TORCH_INDEX)")
	$(PIP) -r requirements.txt
	touch $@
