# Central Hub — two commands on a fresh clone: `make run` and `make test`.
# Every machine installs the exact versions pinned in uv.lock; after changing the dependencies in
# pyproject.toml, `make lock` updates it (commit both).
PYTHON     ?= python3
VENV       ?= .venv
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
PY         := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.installed-run
DEV_STAMP  := $(VENV)/.installed-dev
# --locked refuses a uv.lock that no longer matches pyproject.toml instead of quietly re-resolving;
# --compile-bytecode because a machine with PYTHONDONTWRITEBYTECODE set would otherwise compile
# every dependency again in each new process (seconds per hub start)
SYNC       := $(UV) sync --locked --compile-bytecode --python $(PYTHON)

# uv installs into $(VENV) and must never fetch an interpreter of its own: $(PYTHON) is the one
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint format bench proto lock clean

# uv lives outside $(VENV), whose exact sync would uninstall it; a plain --target install takes
# seconds where a second virtualenv with its own pip takes half a minute
$(UV):
	rm -rf $(TOOLS)
	$(PYTHON) -m pip install -q --root-user-action=ignore --target $(TOOLS) uv==$(UV_VERSION)

# seeded with pip so `.venv/bin/pip install <tool>` keeps working (sync leaves pip alone)
$(PY): | $(UV)
	$(UV) venv -q --seed --python $(PYTHON) $(VENV)

# the SDK extra (the message envelope) comes with the hub so the examples and a BaseService run
# from this .venv as they stand; it is one small wheel
$(RUN_STAMP): uv.lock pyproject.toml | $(PY)
	$(SYNC) --extra sdk
	rm -f $(DEV_STAMP)
	touch $@

$(DEV_STAMP): uv.lock pyproject.toml | $(PY)
	$(SYNC) --extra dev
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

lock: | $(UV)  ## re-resolve uv.lock after editing the dependencies in pyproject.toml
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .ruff_cache .mypy_cache
