# Kith: every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROJECTS := shared devkit services/ingest services/scoring services/recommend services/console cli
# Editable installs; the kith command with its local extra (the stack's launcher and the generator).
EDITABLES := -e ./shared -e ./devkit -e ./services/ingest -e ./services/scoring -e ./services/recommend -e ./services/console -e './cli[local]'
DATA ?= ../shared/data

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Installing says what it does: pip installs uv (pinned), uv installs the rest in seconds, listing what it installs.
$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PROJECTS))
	@echo "install 1/3: creating $(VENV) with $(PYTHON)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "install 2/3: installing the installer (uv, pinned in constraints.txt) with pip"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
	@echo "install 3/3: installing every package editable and every tool, pinned by constraints.txt"
	$(BIN)/uv pip install --python $(BIN)/python -c constraints.txt -r requirements-dev.txt $(EDITABLES)
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install every package and tool (pinned)

# The system tools some checks need (chromium, promtool, node and npm tools), installed once by the
# one set-up script: as root, or with sudo when it needs no password. Without them those checks skip
# and say why (outside CI), so `make test` goes on and tries again next time.
SYSTEM_STAMP := $(VENV)/.system
$(SYSTEM_STAMP): deploy/tools/setup-system.sh deploy/tools/package-lock.json tests/browser/package-lock.json
	@echo "system tools: chromium, promtool, node and the npm tools of the deployment and browser checks"
	@if [ "$$(id -u)" -eq 0 ]; then run=(bash); elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then run=(sudo bash); else run=(bash); fi; \
	if "$${run[@]}" deploy/tools/setup-system.sh; then touch $(SYSTEM_STAMP); \
	else echo "system tools: not all installed; the checks that need them will skip (see the README's Development section)"; fi

system: ## Install the system tools the browser and deployment checks need, or fail saying what is missing
	bash deploy/tools/setup-system.sh
	@mkdir -p $(VENV) && touch $(SYSTEM_STAMP)

run: $(STAMP) ## Start broker, database, the three services, the console (:8004) and a demo tenant; leave them running
	$(BIN)/kith up --demo

stop: $(STAMP) ## Stop everything `make run` started
	$(BIN)/kith down

# Always exits 0, so that a stopped stack prints its one line without make's error line after it;
# scripts that need the exit code call .venv/bin/kith status (3: not running, 1: a component down).
status: $(STAMP) ## Show each component, its address and readiness
	@$(BIN)/kith status || true

test: $(STAMP) $(SYSTEM_STAMP) ## Run the whole test suite (starts and stops its own servers on free ports)
	$(BIN)/pytest

test-unit: $(STAMP) ## Run only the unit tests (no servers)
	$(BIN)/pytest -m unit

lint: $(STAMP) ## Lint and check formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## Type-check (mypy --strict, pydantic plugin)
	$(BIN)/mypy $(PROJECTS) tests bench deploy

contracts: $(STAMP) ## Regenerate JSON Schemas and the AsyncAPI document from the models
	$(BIN)/python -m kith_devkit.contracts write

bench: $(STAMP) ## Run every benchmark (DATA=path to the membership data)
	$(BIN)/python -m bench all --data $(DATA)

.PHONY: help install run stop status test test-unit lint format typecheck contracts bench
