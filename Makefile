# Two commands do everything on a fresh machine with only Python 3.11+:
#   make demo   - a real campaign end to end on embedded PostgreSQL + Redis
#   make test   - lint, type-check, audit the locked dependencies and run the whole test suite
# Dependencies install from requirements/*.lock (exact versions, hashes); `make lock` refreshes
# them from pyproject.toml, and `make floors` runs the tests on the lowest versions it allows.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FLOORS ?= .venv-floors
FLOORS_RUNTIME ?= .venv-floors-runtime
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet
# The floors run every unit test plus the API tests, which exercise FastAPI/Starlette/pydantic.
FLOOR_TESTS := tests/unit tests/operator/test_api.py tests/operator/test_api_hardening.py

.PHONY: demo test lint audit unit floors lock bench bench-quick chaos chaos-quick clean

$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/campaign demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

audit: $(STAMP)
	$(BIN)/python tools/audit.py

# Coverage of the code the test process itself runs (the processes e2e tests start are not
# measured); the floor rises as the code settles.
COVERAGE_FLOOR ?= 85

test: lint audit
	$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

# The lowest version of every direct dependency that pyproject.toml allows (newest transitive
# ones), in venvs of their own: a floor that lacks something the code uses fails here. The
# runtime-only venv is what the image holds (no extras, no dev tools): every module must import.
floors: $(STAMP)
	$(BIN)/uv venv -q --allow-existing --python $(PYTHON) $(FLOORS_RUNTIME)
	VIRTUAL_ENV=$(FLOORS_RUNTIME) $(BIN)/uv pip install -q --resolution lowest-direct -e .
	$(FLOORS_RUNTIME)/bin/python tools/import_all.py
	$(BIN)/uv venv -q --allow-existing --python $(PYTHON) $(FLOORS)
	VIRTUAL_ENV=$(FLOORS) $(BIN)/uv pip install -q --resolution lowest-direct -e '.[dev]'
	$(FLOORS)/bin/python -m pytest -q $(FLOOR_TESTS)

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra embedded $(LOCK_FLAGS) \
	  -o requirements/dev.lock

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

# One campaign under every fault at once (workers killed, gateway 500s, API down, Redis and
# PostgreSQL restarted), judged from the simulator's records; see RELIABILITY.md.
chaos: $(STAMP)
	$(BIN)/python -m chaos

chaos-quick: $(STAMP)
	$(BIN)/python -m chaos --quick

clean:
	rm -rf $(VENV) $(FLOORS) $(FLOORS_RUNTIME) var .mypy_cache .ruff_cache
