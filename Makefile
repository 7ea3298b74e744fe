# `make demo` and `make test` work on a clean clone: each creates .venv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench bench-scale screenshots

$(INSTALLED): pyproject.toml exporters/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e './exporters[postgres,service,otlp]'
	touch $@

demo: $(INSTALLED)
	$(BIN)/autobot-activity demo

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two pytest-xdist workers, one per core of the CI machine: most tests wait on PostgreSQL,
# Chromium, a VNC server or a child process. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py

# PostgreSQL with 1 and 10 million realistic rows (about 20 minutes and 15 GB, dropped at the
# end); writes its section of docs/benchmarks.md. Other sizes: make bench-scale SCALE_ROWS='1000000 5000000'
SCALE_ROWS ?= 1000000 10000000
bench-scale: $(INSTALLED)
	$(BIN)/python -m benchmarks.bench_scale $(SCALE_ROWS)

# The README's pictures of the report: a real session recorded by the report test, on PostgreSQL.
screenshots: $(INSTALLED)
	REPORT_SCREENSHOTS_DIR=docs/images $(BIN)/pytest -q tests/exporters/test_report.py -k 'screenshots and postgresql'
