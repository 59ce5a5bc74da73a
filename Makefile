# One recommender, five MLOps maturity levels. `make help` lists the targets.
#
# The Makefile bootstraps everything it needs from python3: uv (into .tools/ when it is not on
# PATH), then the locked environment in .venv/. All run state goes under state/ (`make clean`).

PYTHON   ?= python3
UV_VERSION := 0.13.9
STATE    := state
SIZE     ?= small
SEED     ?= 42
SCENARIO ?= stable
SIM_DATA := $(STATE)/datasets/$(SCENARIO)-$(SIZE)-seed$(SEED)
# DATA may point at any dataset folder instead: a simulated one, or MovieLens ml-100k/ml-latest-small.
DATA     ?= $(SIM_DATA)

GENERATE = $(RUN) -m data generate --size $(SIZE) --seed $(SEED) --scenario $(SCENARIO) \
	$(if $(SWITCH_DAY),--switch-day $(SWITCH_DAY)) --out $(SIM_DATA)

UV  := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
ENV := .venv/.synced
RUN := .venv/bin/python

.DEFAULT_GOAL := help
UI_LEVEL ?= level1_pipeline
UI_PORT  ?= 5000

FROM ?= level0_manual
TO   ?= level1_pipeline

# Configuration overrides for level 2 and up, e.g. SET="model.l2=20000 evaluation.k=20".
SET ?=
SET_ARGS = $(foreach value,$(SET),--set $(value))

.PHONY: help demo test lint data level0 level1 level1-schedule level2 serve serve-stop bench-serve ui-mlflow diff clean distclean

help: ## List the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo "  knobs: SIZE=$(SIZE) (tiny|small|medium|large|<interactions>) SEED=$(SEED) SCENARIO=$(SCENARIO) DATA=<folder>"

demo: $(ENV) ## From a fresh clone: set up, generate data, run every level
	@$(MAKE) --no-print-directory level0
	@$(MAKE) --no-print-directory level1
	@$(MAKE) --no-print-directory level2; status=$$?; $(MAKE) --no-print-directory serve-stop; exit $$status

test: $(ENV) ## Run the full test suite
	$(RUN) -m pytest

lint: $(ENV) ## Check style with ruff
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

data: $(ENV) ## Generate the simulated dataset (SIZE, SEED, SCENARIO, SWITCH_DAY)
	$(GENERATE)

level0: $(ENV) $(if $(filter $(DATA),$(SIM_DATA)),$(SIM_DATA)/world.json) ## Level 0: train by hand, hand over a joblib file
	$(RUN) -m level0_manual.train --data $(DATA) --out $(STATE)/level0_manual

level1: $(ENV) $(if $(filter $(DATA),$(SIM_DATA)),$(SIM_DATA)/world.json) ## Level 1: the Prefect training flow, tracked in MLflow
	$(RUN) -m level1_pipeline.train --data $(DATA)

level1-schedule: $(ENV) $(if $(filter $(DATA),$(SIM_DATA)),$(SIM_DATA)/world.json) ## Level 1 on a schedule (a local Prefect server; Ctrl-C stops)
	$(RUN) -m level1_pipeline.train --schedule --data $(DATA)

level2: $(ENV) $(if $(filter $(DATA),$(SIM_DATA)),$(SIM_DATA)/world.json) ## Level 2: train, gate, register, promote, deploy, smoke test (SET=)
	$(RUN) -m level2_cicd.stages all --data $(DATA) $(SET_ARGS)

serve: $(ENV) ## Run level 2's serving API in the foreground (loads models:/recommender@champion)
	$(RUN) -m level2_cicd.serve

serve-stop: $(ENV) ## Stop the serving API that `make level2` deployed
	$(RUN) -m level2_cicd.stages stop

bench-serve: $(ENV) ## Benchmark: load test of level 2's serving API, steady and during a model swap
	@$(MAKE) --no-print-directory level2
	$(RUN) -m benchmarks.serve_load; status=$$?; $(RUN) -m level2_cicd.stages stop; exit $$status

ui-mlflow: $(ENV) ## Open the MLflow UI on a level's runs (UI_LEVEL, UI_PORT)
	@echo "MLflow UI on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --backend-store-uri sqlite:///$(abspath $(STATE)/$(UI_LEVEL)/mlflow.db) \
		--host 127.0.0.1 --port $(UI_PORT) --workers 1

$(SIM_DATA)/world.json: | $(ENV)
	$(GENERATE)

diff: ## What a step up costs: the code diff between two levels (FROM, TO)
	@diff -ru --exclude=__pycache__ --exclude=README.md $(FROM) $(TO) || true

clean: ## Delete all run state (datasets, models, reports, tracking databases)
	rm -rf $(STATE)

distclean: clean ## Also delete the environment and the bootstrapped uv
	rm -rf .venv .tools

$(ENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)
