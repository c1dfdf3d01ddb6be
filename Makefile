# The two commands: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
SHELL  := /bin/bash
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench lint openapi soak clean

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

## test: the whole suite against real PostgreSQL and Redis (embedded ones if none local)
test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

## test-fast: everything but the slow suites
test-fast: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

## bench: benchmarks, printed as ratios against baselines measured in the same run
bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## soak: a mixed workload for SOAK_SECONDS (60), then every invariant checked
soak: $(STAMP)
	$(BIN)/python bench/soak.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

## openapi: write openapi/openapi.json from the app (a test fails when it drifts)
openapi: $(STAMP)
	$(BIN)/carbon-inclusion openapi export openapi/openapi.json

clean:
	rm -rf $(VENV) build *.egg-info
