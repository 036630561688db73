# Two commands: `make run` serves the bot, `make test` runs every check. Both set up a fresh
# machine first (a virtual environment in .venv and the npm test tools in node_modules).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean assets

$(BIN)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.dev: $(BIN)/.runtime package-lock.json
	$(BIN)/pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(BIN)/.runtime
	$(BIN)/python app.py

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The operations view's vendored scripts, from node_modules (after a change to package.json).
assets: $(BIN)/.dev
	$(BIN)/python -m ops.assets

clean:
	rm -rf $(VENV) node_modules
