# Two commands matter: `make demo` (the quickstart against a local emulator) and `make test`.
# Both set up what they need on a fresh machine: a virtualenv in .venv and a Pulumi CLI
# (the one on PATH, else a pinned build cached outside the repository: scripts/pulumi-cli).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second virtualenv with every direct dependency at its declared floor (`make test-min`).
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed

.PHONY: test test-min lint demo bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for example in examples/*/; do \
	  [ -f "$$example/__main__.py" ] || continue; \
	  $(BIN)/mypy --no-error-summary "$$example" || exit 1; \
	done

# The Pulumi CLI is looked up (or built, once) before pytest so that its progress shows;
# the end-to-end tests skip with the reason when none can be had, except under CI=true.
test: lint
	@cli_bin="$$(scripts/pulumi-cli)" || cli_bin=""; \
	PULUMI_CLI_BIN="$$cli_bin" $(BIN)/python -m pytest

# The tests that need no CLI, with pyproject's dependencies at their floors
# (scripts/min_constraints.py) and the test tools at requirements-dev.txt's pins: proof that
# the lower bounds we publish are true. Transitive dependencies resolve to what pip picks.
$(MIN_STAMP): pyproject.toml requirements-dev.txt scripts/min_constraints.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(PYTHON) scripts/min_constraints.py pyproject.toml > $(MIN_VENV)/constraints.txt
	grep -iE '^(pytest|hypothesis|pyyaml)==' requirements-dev.txt >> $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c $(MIN_VENV)/constraints.txt -e . pytest hypothesis pyyaml
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	@cat $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pytest -m "not cli"

demo: $(STAMP)
	@cli_bin="$$(scripts/pulumi-cli)" && \
	PATH="$$cli_bin:$$PATH" $(BIN)/python scripts/demo.py

# Every benchmark table, about 16 minutes; benchmarks/README.md records a run and its machine.
# The official SDK and matplotlib are installed for the benchmarks only.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	@cli_bin="$$(scripts/pulumi-cli)" && export PULUMI_CLI_BIN="$$cli_bin" && \
	$(BIN)/python -m benchmarks.revoke && \
	$(BIN)/python -m benchmarks.update && \
	$(BIN)/python -m benchmarks.state_size && \
	$(BIN)/python -m benchmarks.overhead && \
	$(BIN)/python -m benchmarks.provider_speed && \
	$(BIN)/python -m benchmarks.quota

clean:
	rm -rf $(VENV) $(MIN_VENV) .demo .mypy_cache .ruff_cache .pytest_cache .hypothesis
