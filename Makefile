# The two commands a new user needs (see README.md):
#   make demo   - set up, start the SFTP sandbox with seeded leads, run the whole pipeline, print a summary
#   make test   - set up, run the whole test suite
# Both create .venv and install what they need; nothing has to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: demo test sandbox ui bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadsync demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Run the SFTP sandbox in the foreground (for `dagster dev` sessions); Ctrl-C stops it.
sandbox: $(STAMP)
	$(BIN)/leadsync sandbox

ui: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python bench/pipeline_1m.py

lint: $(STAMP)
	$(BIN)/ruff check leadsync connectors tests bench

clean:
	rm -rf $(VENV) dagster_home/leadsync.duckdb* dagster_home/sftp_sandbox
