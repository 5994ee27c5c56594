# Two entry points: `make demo` (one night on the embedded defaults) and `make test` (the suite).
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYSPARK_VERSION := $(shell sed -n 's/^pyspark==\([^ ]*\).*/\1/p' constraints.txt)

.PHONY: install browser demo test test-fast lint lock clean-demo base-model

install: $(STAMP)

$(STAMP): setup.py constraints.txt
	scripts/check_prereqs.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[all]"
	@# The Spark provider pulls in pyspark-client, which writes into the same pyspark/ folder as the
	@# full pyspark; reinstall the full distribution last so its files win.
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --reinstall pyspark==$(PYSPARK_VERSION)
	$(BIN)/python scripts/check_install.py $(PYSPARK_VERSION)
	touch $(STAMP)

# Debian's Chromium for the report test (CI runs this before `make test`).
browser:
	scripts/install_browser.sh

demo: $(STAMP)
	scripts/demo.sh

# Train the cpu profile's GAN from scratch (200 epochs), gate it and, only if it passes, package it as
# data/base_model (31 min on an idle 2-core machine, measured; 73 min while tests shared the cores);
# its MLflow store and lake stay in .base-model/.
base-model: $(STAMP)
	mkdir -p .base-model
	PACKAGING_HOME=$(CURDIR)/.base-model PACKAGING_LAKE_URI=file://$(CURDIR)/.base-model/lake \
		MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/.base-model/mlflow.db TF_CPP_MIN_LOG_LEVEL=2 \
		$(BIN)/packaging-pipeline base-model --json > .base-model/base-model.json
	@$(BIN)/python -c 'import json; r = json.load(open(".base-model/base-model.json")); print("gate:", r["gate"]["reasons"], "->", r["exported"])'

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff check --preview --select AIR3 dags/
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Only tests/unit (no Spark, S3 endpoint, MLflow, Airflow or TensorFlow training): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Regenerate constraints.txt from requirements/stack.in (needs network access to PyPI).
lock: $(STAMP)
	$(BIN)/uv pip compile requirements/stack.in --python-version 3.11 --annotation-style line \
		--custom-compile-command "make lock" -o constraints.txt

clean-demo:
	rm -rf .demo
