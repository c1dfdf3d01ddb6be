# The two commands: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
SHELL  := /bin/bash
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The browser tests drive Debian's chromium (Playwright never downloads one of its own).
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast test-browser browser bench lint openapi soak clean

# pip's own progress (one line per package) says that the long first install is moving.
$(STAMP): pyproject.toml
	@began=$$(date +%s); \
	echo "make: installing the project and its dependencies into $(VENV)" \
	     "(the first time: a few minutes)"; \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || exit 1; \
	$(BIN)/python -m pip install --quiet --upgrade pip || exit 1; \
	$(BIN)/python -m pip install --progress-bar off -e '.[dev,embedded]' \
	    | grep --line-buffered -E '^(Collecting|Successfully installed)' \
	    | cut -c1-100; \
	test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	touch $(STAMP); \
	echo "make: installed in $$(( $$(date +%s) - began )) s"

## run: install, migrate, seed and serve on 127.0.0.1:8000 (HOST/PORT to change)
run: $(STAMP)
	$(BIN)/carbon-inclusion serve

## test: the whole suite against real PostgreSQL and Redis (embedded ones if none local),
## browser tests included (they fail, never skip, without Chromium)
test: $(STAMP) browser
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

## test-fast: everything but the slow suites and the browser tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow and not browser" $(PYTEST_ARGS)

## test-browser: the console and public pages in headless Chromium (tests/browser)
test-browser: $(STAMP) browser
	$(BIN)/python -m pytest -p no:cacheprovider -m browser $(PYTEST_ARGS)

## browser: Chromium and a CJK font, installed with apt-get when missing and we are root
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing chromium and fonts-noto-cjk for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk || exit 1; \
	else \
	    echo "make: $(CHROMIUM) is missing and cannot be installed here (root and apt-get" \
	         "needed): the browser tests will fail"; \
	fi

## bench: benchmarks, printed as ratios against baselines measured in the same run; all
## run, and the exit status is 1 when any missed a target (the misses are named at the end)
bench: $(STAMP)
	@began=$$(date +%s); missed=""; \
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || missed="$$missed $$b"; done; \
	echo "== make bench: $$(( $$(date +%s) - began )) s;" \
	     "$$(if [ -n "$$missed" ]; then echo "targets missed in:$$missed"; \
	         else echo "every target met"; fi)"; \
	test -z "$$missed"

## soak: a mixed workload at SOAK_RATE (100/s) for SOAK_SECONDS (60), p99 per route, then
## every invariant checked
soak: $(STAMP)
	$(BIN)/python bench/soak.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

## openapi: write openapi/openapi.json from the app (a test fails when it drifts)
openapi: $(STAMP)
	$(BIN)/carbon-inclusion openapi export openapi/openapi.json

clean:
	rm -rf $(VENV) build *.egg-info
