# Two commands set everything up on a fresh machine with Python 3.11+ and make:
#   make run    start secinfo on SQLite with the development mailbox
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck check clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/secinfo serve

AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js

# axe-core for the browser tests' accessibility check (skipped with a message without npm).
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent; \
	else echo "make: npm not found; browser tests will say how to install axe-core"; fi

TWILIO_NODE := tests/e2e/twilio-node/node_modules/twilio/package.json

# The official Twilio Node.js SDK for the Twilio-compatible API's Node test.
$(TWILIO_NODE): tests/e2e/twilio-node/package.json tests/e2e/twilio-node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/e2e/twilio-node --no-audit --no-fund --silent; \
	else echo "make: npm not found; the Twilio Node SDK test will say how to install it"; fi

test: $(VENV)/.installed-test $(AXE) $(TWILIO_NODE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

LOCALES := src/secinfo/web/locales
BABEL_KEYWORDS := -k N_ -k n_:1,2 -k np_:1c,2,3 -k p_:1c,2

# The pages' text: extract it into messages.pot and bring every language's .po up to date
# (then translate the new entries; the .po files are compiled when secinfo starts).
# A new language: make translations, then $(BIN)/pybabel init -i $(LOCALES)/messages.pot -d $(LOCALES) -l fr
translations: $(VENV)/.installed-test
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output -w 100 \
		--omit-header -o $(LOCALES)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) --no-fuzzy-matching \
		--ignore-obsolete -w 100
	sed -i '/^"POT-Creation-Date: /d' $(LOCALES)/*/LC_MESSAGES/messages.po  # no churn
