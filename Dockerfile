# One image for the whole stack: the Airflow services, the Spark master and workers, the bucket
# creator and the replay API all run it, so Python packages, jars and Java cannot drift apart.
#
# The build is offline: nothing is fetched from PyPI or Maven inside `docker build`. `make image`
# prepares both inputs on the host, from the same files `make setup` reads, then builds:
#   Python packages  .cache/wheelhouse  `pip wheel -c constraints.txt ".[airflow,report]"` (pyproject.toml)
#   Spark jars       .jars/             `make jars` (conf/jars.pom.xml)
# Only Debian's packages (Java, tini, curl) come from the base image's apt sources.
# tests/test_docker.py parses the Makefile and this file and fails if the two ever disagree;
# tests/test_compose_stack.py builds it and runs the DAG on the stack (`make compose-test`).

# python:3.11-slim-bookworm, or any Debian bookworm root file system (whose python3 is 3.11):
# `make image` uses a locally imported debootstrap bookworm when no registry is reachable.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- stage 1: the OS: Python 3.11 + Java 17 JRE, no build tools -------------------------------
FROM ${BASE_IMAGE} AS base
# procps: Spark's launch scripts call `ps`; curl: the compose health checks; tini: PID 1 that
# reaps the JVMs and Python children spark-submit and Airflow leave behind. python3-venv only on a
# plain Debian base (the python image has its own Python). Debian's packages are not pinned:
# bookworm only moves them for security fixes, and an exact pin breaks the build the day the old
# revision leaves the mirror. Slim images drop /usr/share/man, and the JRE's update-alternatives
# links fail without man1.
# hadolint ignore=DL3008,SC2086
RUN mkdir -p /usr/share/man/man1 \
 && python=$(command -v python3 >/dev/null || echo "python3 python3-venv") \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends \
        openjdk-17-jre-headless procps curl tini ca-certificates $python \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java \
 && ln -sf "$(command -v python3)" /usr/local/bin/python

# ---- stage 2: a virtualenv with the pinned packages (from the wheelhouse) and brewlake ---------
FROM base AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels
# The dependencies first, in their own layer: a change to brewlake's code does not reinstall them.
# --ignore-requires-python: bookworm's Python is 3.11.2 and a few pins ask for a later 3.11 patch
# release (soupsieve: >=3.11.5) out of policy, not for a feature 3.11.2 lacks.
COPY .cache/wheelhouse /wheels
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-deps --ignore-requires-python /wheels/*.whl
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/brewlake/app
COPY pyproject.toml constraints.txt README.md ./
COPY brewlake brewlake
COPY bronze bronze
COPY silver silver
COPY gold gold
# Non-editable, resolved against what is installed: pip fails here if the wheelhouse lacks a pin.
RUN pip install --quiet --no-build-isolation -c constraints.txt ".[airflow,report]" \
 && pip check

# ---- stage 3: the runtime, non-root -------------------------------------------------------------
FROM base AS runtime
# Airflow's convention: a fixed uid, group 0, so mounted folders work with `--user <uid>:0`.
ARG BREWLAKE_UID=50000
RUN useradd --uid "${BREWLAKE_UID}" --gid 0 --home-dir /opt/brewlake --create-home \
        --shell /bin/bash brewlake

# The jars `make jars` fetched from conf/jars.pom.xml, straight from the build context.
COPY .jars /opt/brewlake/jars
COPY --from=venv /opt/venv /opt/venv
# The code lives in the venv only (the DAG's `<layer>/job.py` paths resolve there). Beside it, laid
# out like the repository: conf/ (what Settings reads, BREWLAKE_CONF_DIR below), the DAGs (the
# compose file mounts ./dags over them) and the stack's scripts.
COPY --chown=brewlake:0 conf /opt/brewlake/app/conf
COPY --chown=brewlake:0 dags /opt/brewlake/app/dags
COPY --chown=brewlake:0 docker /opt/brewlake/app/docker

# pyspark ships Spark itself (bin/spark-class, spark-submit, jars): SPARK_HOME points at it.
RUN ln -s "$(/opt/venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" \
        /opt/spark \
 && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/brewlake/spark-work /opt/brewlake/data \
 && chown -R brewlake:0 /opt/airflow /opt/brewlake/spark-work /opt/brewlake/data \
 && chmod -R g=u /opt/airflow /opt/brewlake/spark-work /opt/brewlake/data

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    JAVA_HOME=/opt/java \
    SPARK_HOME=/opt/spark \
    SPARK_WORKER_DIR=/opt/brewlake/spark-work \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    BREWLAKE_JARS_DIR=/opt/brewlake/jars \
    BREWLAKE_CONF_DIR=/opt/brewlake/app/conf

USER ${BREWLAKE_UID}:0
WORKDIR /opt/brewlake/app
# Fail the build, not the first DAG run, if the jars or Java are not what Spark needs.
RUN python -c "from brewlake.config import load_settings; from brewlake.spark import jar_paths; \
print(len(jar_paths(load_settings())), 'jars')" \
 && java -version

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["brewlake", "--help"]
