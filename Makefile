# brewlake — one entry point for set-up, tests, lint and the demo.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS_DIR := .jars
POM := conf/jars.pom.xml
export JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-*))
PYTEST_ARGS ?=

.PHONY: setup jars test test-fast lint demo airflow cluster bench bench-quick clean constraints \
	aws-setup aws-synth aws-test aws-deploy

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

test: setup aws-setup ## the whole suite, as CI runs it
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory aws-test

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

# ---- the AWS deployment (deploy/aws, docs/deploy-aws.md): its own venv, as checkov's pins
# conflict with Airflow's (tabulate).
AWS_VENV := .venv-aws
AWS_DIR := deploy/aws
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

aws-setup: $(AWS_VENV)/.installed ## CDK, cfn-lint, checkov in .venv-aws
$(AWS_VENV)/.installed: $(AWS_DIR)/requirements.txt $(AWS_DIR)/requirements.lock
	@test -x $(AWS_VENV)/bin/python || $(PYTHON) -m venv $(AWS_VENV)
	$(AWS_VENV)/bin/pip install --quiet --upgrade "pip>=24"
	$(AWS_VENV)/bin/pip install --quiet -c $(AWS_DIR)/requirements.lock -r $(AWS_DIR)/requirements.txt
	@touch $@

aws-synth: aws-setup ## CloudFormation templates into deploy/aws/cdk.out (offline, no account)
	cd $(AWS_DIR) && ../../$(AWS_VENV)/bin/python app.py
	@ls $(AWS_DIR)/cdk.out/*.template.json

aws-test: aws-setup ## the synthesised templates: CDK assertions, cfn-lint, checkov
	cd $(AWS_DIR) && ../../$(AWS_VENV)/bin/python -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

aws-deploy: aws-setup ## cdk deploy every stack, push the image, upload MWAA's source (needs an account)
	$(AWS_DIR)/deploy.sh $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(JARS_DIR) lake .airflow spark-warehouse $(AWS_VENV) $(AWS_DIR)/cdk.out $(AWS_DIR)/build
