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

# The operations view's browser tests drive Debian's Chromium: installed from apt when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (apt-get, as root)"
	@{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	  || { echo "could not install chromium: run 'apt-get install chromium' as root, then make test again" >&2; exit 1; }

test: lint $(CHROMIUM)
	$(BIN)/pytest

# The operations view's vendored scripts, from node_modules (after a change to package.json).
assets: $(BIN)/.dev
	$(BIN)/python -m ops.assets

clean:
	rm -rf $(VENV) node_modules
