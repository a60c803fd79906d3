# brewlake — one entry point for set-up, tests, lint and the demo.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS_DIR := .jars
POM := conf/jars.pom.xml
export JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-*))
PYTEST_ARGS ?=

.PHONY: setup jars test test-fast lint demo airflow cluster bench bench-quick clean constraints

setup: $(VENV)/.installed $(JARS_DIR)/.fetched ## venv + pinned packages + Spark jars (no-op when done)

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[airflow,dev,report]"
	@touch $@

jars: $(JARS_DIR)/.fetched
$(JARS_DIR)/.fetched: $(POM)
	mvn --batch-mode --quiet -f $(POM) dependency:copy-dependencies \
	    -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS_DIR))
	@touch $@

test: setup ## the whole suite, as CI runs it
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## unit tests only (no services, no slow end-to-end)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

constraints: ## re-freeze constraints.txt after changing a pin
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

demo: setup ## generated data -> replay API -> bronze/silver/gold in ./lake -> top of gold
	$(BIN)/python -m brewlake.devkit.demo

airflow: setup ## a local Airflow 3 (standalone) on this dags/ folder
	$(BIN)/python -m brewlake.airflow.local

cluster: setup ## a Spark standalone master + 2 workers on 127.0.0.1, until Ctrl-C
	$(BIN)/python -m brewlake.devkit.cluster

bench: setup
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) $(JARS_DIR) lake .airflow spark-warehouse
