# Everything runs inside .venv, created from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve build test bench clean

serve: $(VENV)/.installed ## live-reloading site on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

build: $(VENV)/.installed ## strict build into site/
	$(BIN)/mkdocs build

test: $(VENV)/.installed ## tests, code blocks, snippets, notebooks and the strict build
	$(BIN)/pytest

bench: $(VENV)/.installed ## build and test timings, page weights
	$(BIN)/python tools/bench.py

clean:
	rm -rf site .cache .pytest_cache

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
