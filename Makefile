# One command surface. CI runs `make test` through .ci/run, so a green CI means this file works.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Exact versions (with hashes) of every dependency, every product extra ([all]) and [dev] included;
# pyproject.toml keeps the ranges. `make lock` refreshes it; CI installs from it through `make test`.
LOCK   := requirements.lock
UV_VERSION ?= 0.13.9
LOCK_ARGS ?=
REGIONS ?= eu,us
BROKER  ?= auto
PYTEST_ARGS ?=

.PHONY: dev up down status install lock check lint typecheck test unit integration e2e bench bench-peers bench-tools front-door-tools wrk-tool clean kafka-tools

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check; \
		echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

## Re-resolve $(LOCK) from pyproject.toml (keeps current pins where they still fit;
## `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions).
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile pyproject.toml --extra all --extra dev --universal --generate-hashes \
		--python-version 3.11 --quiet $(LOCK_ARGS) -o $(LOCK)

## Run the whole multi-region stack locally on embedded infrastructure (Ctrl-C stops it), with
## a front door (HAProxy) per region; FRONT_DOOR= (empty) runs it without.
FRONT_DOOR ?= --front-door
dev: $(STAMP) front-door-tools
	$(VENV)/bin/authplane up --regions $(REGIONS) --broker $(BROKER) $(FRONT_DOOR)

up: $(STAMP)
	$(VENV)/bin/authplane up --regions $(REGIONS) --broker $(BROKER) --detach

down: $(STAMP)
	$(VENV)/bin/authplane down

status: $(STAMP)
	$(VENV)/bin/authplane status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck

## Lint, type-check, then unit, integration and end-to-end tests (real broker, Redis, Postgres).
test: check front-door-tools wrk-tool
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

e2e: $(STAMP)
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

## Kafka jars (Maven, via services/devstack/kafka-pom.xml) and toxiproxy (Go) into ~/.cache/authplane.
## The tests and the launcher fetch them on first use too; this does it ahead of time.
kafka-tools: $(STAMP)
	$(PY) -m services.devstack.kafka
	./scripts/install-toxiproxy.sh

## Benchmarks: each prints its method, its figures and the ratio to its floor.
bench: $(STAMP)
	$(PY) -m bench

## authplane and Keycloak side by side (heavy: fetches Keycloak from Maven Central once, into
## ~/.cache/authplane; not part of `make test`). BENCH_PEERS_ARGS, e.g. "--seconds 10".
BENCH_PEERS_ARGS ?=
bench-peers: $(STAMP) bench-tools
	$(PY) -m pip install --quiet -e '.[all,dev,bench]'
	$(PY) -m bench peers $(BENCH_PEERS_ARGS)
	$(PY) -m bench --plot

# wrk (the load generator) and Maven + a JDK (to fetch and run Keycloak) from Debian's packages:
# installed when missing and root, otherwise named so the user can install them.
bench-tools:
	@for tool in wrk:wrk mvn:maven jcmd:openjdk-17-jdk-headless; do \
	  cmd=$${tool%%:*}; pkg=$${tool#*:}; \
	  command -v $$cmd >/dev/null && continue; \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y $$pkg || { apt-get update && apt-get install -y $$pkg; } || exit 1; \
	  else echo "$$cmd is missing: sudo apt-get install $$pkg" >&2; exit 1; fi; \
	done

# wrk alone (tests/unit/test_bench_wrk.py runs it): installed when missing and root (CI),
# otherwise named; that test then fails saying so.
wrk-tool:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; \
	  else echo "wrk is missing (a benchmark test runs it): sudo apt-get install wrk" >&2; fi; }

# HAProxy (the front door, `authplane up --front-door`) from Debian's packages: installed when
# missing and root (CI), otherwise named; `make dev` still starts (without a front door) then.
front-door-tools:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y haproxy || { apt-get update && apt-get install -y haproxy; }; \
	  else echo "haproxy is missing (the front door needs it): sudo apt-get install haproxy" >&2; fi; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
