# Central Hub — two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint format bench proto clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev]'
	touch $(RUN_STAMP) $@

run: $(RUN_STAMP)  ## start the hub on http://127.0.0.1:7000 (SQLite + in-process bus by default)
	$(VENV)/bin/centralhub serve

test: $(DEV_STAMP)  ## run the whole suite (needs the local PostgreSQL, Redis and NATS)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy src

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format src tests bench examples
	$(VENV)/bin/ruff check --fix src tests bench examples

bench: $(DEV_STAMP)  ## benchmarks print figures beside a reference measured in the same run
	$(PY) bench/discovery.py
	$(PY) bench/config_push.py
	$(PY) bench/ticks.py

proto: $(DEV_STAMP)  ## regenerate the MessageEnvelope protobuf classes
	bash scripts/gen_proto.sh

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
