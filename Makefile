# Trợ lý ảo dịch vụ công — the two commands that matter are `make run` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PY ?= python3.10
BIN := .venv/bin
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONWARNINGS := ignore::DeprecationWarning
RASA_ARGS := --config nlu_data/config.yml --domain nlu_data/domain
RASA_DATA := --data nlu_data/nlu nlu_data/rules nlu_data/stories

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "%-12s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml .python-version
	@command -v $(PY) >/dev/null || { echo "Python 3.10 is needed (pyenv: 'pyenv install 3.10')"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv .venv
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: .venv/.installed  ## create .venv (Python 3.10) and install the project

train: setup  ## train the Rasa model if the data changed (cached by data hash)
	$(BIN)/assistant train --if-stale

load: setup  ## validate and load procedures/ into the database
	$(BIN)/assistant procedures load

run: setup load train  ## load procedures, train if stale, serve on http://127.0.0.1:$${PORT:-8000}
	$(BIN)/assistant serve

validate: setup  ## validate procedure records and Rasa training data
	$(BIN)/assistant procedures validate
	$(BIN)/rasa data validate $(RASA_ARGS) $(RASA_DATA) --fail-on-warnings

browser:  ## Debian's chromium for the widget's browser test (installed when missing, if we may)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  echo "installing chromium (Debian package) for the widget test" && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed: the browser tests will be skipped (fail under CI=true)"

axe: node_modules/axe-core/axe.min.js  ## axe-core (npm ci, pinned in package-lock.json) for the widget's accessibility check

node_modules/axe-core/axe.min.js: package.json package-lock.json
	@command -v npm >/dev/null && npm ci --no-audit --no-fund --loglevel=error && touch $@ || \
	  echo "npm is not installed: the widget's accessibility check will be skipped (fail under CI=true)"

test: setup train browser axe  ## the whole suite: lint, types, unit, API, browser, NLU floors, dialogue stories
	$(BIN)/assistant procedures validate
	$(BIN)/rasa data validate $(RASA_ARGS) $(RASA_DATA)
	$(BIN)/ruff check assistant actions tests
	$(BIN)/mypy assistant actions
	$(BIN)/pytest
	$(BIN)/rasa test core --stories tests/stories --model models --fail-on-prediction-errors --out var/results/core

test-fast: setup  ## unit tests that need no trained model
	$(BIN)/pytest -m "not slow"

evaluate: train  ## NLU accuracy on the held-out and dev sets; multi-turn chats (ours and the independent dev set)
	$(BIN)/assistant evaluate tests/data/heldout.yml --report docs/nlu-evaluation.md
	$(BIN)/assistant evaluate tests/data/dev.yml --report docs/nlu-evaluation-dev.md
	$(BIN)/assistant evaluate --conversations tests/conversations --report docs/nlu-evaluation.md
	$(BIN)/assistant evaluate --conversations tests/data/conversations-dev --report docs/nlu-evaluation-dev.md

cross-validate: setup  ## Rasa's own 5-fold cross-validation of the NLU data
	$(BIN)/rasa test nlu --config nlu_data/config.yml --nlu nlu_data/nlu --cross-validation --folds 5 --out var/results/cv

bench: train  ## parse latency, cold start, the speed goals' loads (ours, stock Rasa, 2 processes); writes docs/benchmark.md
	$(BIN)/assistant bench --report docs/benchmark.md

lint:  setup ## ruff
	$(BIN)/ruff check assistant actions tests

types: setup  ## mypy (part of make test)
	$(BIN)/mypy assistant actions

clean:  ## remove the venv, models and local data
	rm -rf .venv models var .pytest_cache .ruff_cache node_modules

.PHONY: help setup train load run validate browser axe test test-fast evaluate cross-validate bench lint types clean
