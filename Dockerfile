# syntax=docker/dockerfile:1
# One image for the whole stack: the Airflow services, the Spark master and workers, the bucket
# creator and the replay API all run it, so Python packages, jars and Java cannot drift apart.
#
# Versions come from the same files `make setup` reads, never from this file:
#   Python packages  pyproject.toml + constraints.txt   (pip install -c constraints.txt ".[airflow,report]")
#   Spark jars       conf/jars.pom.xml                  (mvn dependency:copy-dependencies)
# tests/test_docker.py parses the Makefile and this file and fails if the two ever disagree.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17

# ---- stage 1: the Spark jars, fetched by Maven from the project's pom --------------------------
FROM ${MAVEN_IMAGE} AS jars
WORKDIR /build
COPY conf/jars.pom.xml conf/jars.pom.xml
RUN --mount=type=cache,target=/root/.m2 \
    mvn --batch-mode --quiet -f conf/jars.pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=/build/jars

# ---- stage 2: a virtualenv with brewlake and the pinned packages ------------------------------
FROM ${PYTHON_IMAGE} AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/brewlake/app
COPY pyproject.toml constraints.txt README.md ./
COPY brewlake brewlake
COPY bronze bronze
COPY silver silver
COPY gold gold
RUN pip install --quiet --upgrade "pip>=24" \
 && pip install --quiet -c constraints.txt ".[airflow,report]"

# ---- stage 3: the runtime: Python 3.11 + Java 17 JRE, no build tools, non-root -----------------
FROM ${PYTHON_IMAGE} AS runtime
# procps: Spark's launch scripts call `ps`; curl: the compose health checks; tini: PID 1 that
# reaps the JVMs and Python children spark-submit and Airflow leave behind. Debian's packages are
# not pinned: bookworm only moves them for security fixes, and an exact pin breaks the build the
# day the old revision leaves the mirror.
# Slim images drop /usr/share/man, and the JRE's update-alternatives links fail without man1.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install --yes --no-install-recommends \
        openjdk-17-jre-headless procps curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java

# Airflow's convention: a fixed uid, group 0, so mounted folders work with `--user <uid>:0`.
ARG BREWLAKE_UID=50000
RUN useradd --uid "${BREWLAKE_UID}" --gid 0 --home-dir /opt/brewlake --create-home \
        --shell /bin/bash brewlake

COPY --from=venv /opt/venv /opt/venv
COPY --from=jars /build/jars /opt/brewlake/jars
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
