# The two commands a new user needs (see README.md):
#   make demo   - set up, start every bundled sandbox with seeded leads, run the whole pipeline, print a summary
#   make test   - set up, run the whole test suite
# Both create .venv and install what they need; nothing has to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/dagster_home
# make passes SIGTERM on to the command it runs, but a SIGKILL ends make alone: with this, the long-running
# commands below (ui, scale, sandbox, web) stop, and stop what they started, when make dies (leadsync/scale/serve.py).
export LEADSYNC_STOP_WITH_PARENT := 1

.PHONY: demo test scale sandbox web ui bench lint wheel clean

$(STAMP): pyproject.toml setup.py
	@echo "Setting up $(VENV): installing leadsync and its dependencies (Dagster, DuckDB, the vendor clients)."
	@echo "The first time this takes a few minutes; later runs skip it until pyproject.toml changes."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "$(VENV) is ready."
	touch $(STAMP)

# Every bundled sandbox (SFTP, Salesforce, Marketo, Eloqua, SMTP, and a partner's CRM when partners.yaml
# points one at loopback), seeded; the whole graph; a summary per source. Extra options: make demo ARGS="--verbose"
demo: $(STAMP)
	$(BIN)/leadsync demo $(ARGS)

# The scale profile on this machine: Postgres, RabbitMQ and Redis on loopback, two Celery workers, the demo
# run on them, then the UI and daemon until Ctrl-C (README: Scale-out).
scale: $(STAMP)
	$(BIN)/leadsync scale --serve

# The browser test drives Debian's chromium through chromedriver; install them once if missing.
BROWSER_DRIVER := /usr/bin/chromedriver

$(BROWSER_DRIVER):
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver ) \
	  || echo "could not install chromium/chromium-driver: the browser test will be skipped"

# Three workers on two cores, a file at a time, the longest files first (tests/conftest.py): many tests wait on
# subprocesses and sockets, and two workers left the cores idle 40% of the time (2026-12-03, idle machine: 13 min
# 2 s with two, 10 min 16 s and 9 min 6 s with three). `pytest tests/x.py` runs one file in this process as usual.
test: $(STAMP) $(BROWSER_DRIVER)
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder

# Run the SFTP sandbox in the foreground (for `dagster dev` sessions); Ctrl-C stops it.
sandbox: $(STAMP)
	$(BIN)/leadsync sandbox

# The partner-response web app (accept/reject links in the demo's emails); Ctrl-C stops it.
web: $(STAMP)
	$(BIN)/leadsync web

# The Dagster UI on http://127.0.0.1:3000 with what its schedules and sensors reach: the bundled sandboxes
# and the partner web app (leadsync/dev.py). Ctrl-C, or SIGTERM to its PID, stops all of it.
ui: $(STAMP)
	$(BIN)/leadsync dev --port 3000

bench: $(STAMP)
	/usr/bin/time -f "peak RSS %M KB, %e s wall" $(BIN)/python bench/pipeline_1m.py

# dist/leadsync-<version>-py3-none-any.whl: one top-level module, leadsync, with the starter project as package
# data (README: Installing leadsync elsewhere).
wheel: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist

lint: $(STAMP)
	$(BIN)/ruff check leadsync connectors tests bench

clean:
	rm -rf $(VENV) build dist dagster_home/leadsync.duckdb* dagster_home/sftp_sandbox dagster_home/sandboxes dagster_home/mail_sandbox
