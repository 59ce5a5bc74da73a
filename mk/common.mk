# What every project of these levels needs from make: the environment bootstrapped from python3,
# the simulated dataset, tests, lint and clean-up. The repository's Makefile includes this file,
# and so does every project that `make template` writes, beside its level's own level.mk.
#
# The environment: uv (from PATH, else installed into .tools/), then the locked environment in
# .venv/. All run state goes under state/ (`make clean`).

PYTHON   ?= python3
UV_VERSION := 0.13.9
STATE    := state
SIZE     ?= small
SEED     ?= 42
SCENARIO ?= stable
# A switch day of its own makes another world, so it is part of the folder's name.
SIM_DATA  = $(STATE)/datasets/$(SCENARIO)-$(SIZE)-seed$(SEED)$(if $(SWITCH_DAY),-switch$(SWITCH_DAY))
# DATA may point at any dataset folder instead: a simulated one, or MovieLens ml-100k/ml-latest-small.
DATA     ?= $(SIM_DATA)
# A level's run target depends on this: the simulated dataset is generated when DATA is not given.
DATASET   = $(if $(filter $(DATA),$(SIM_DATA)),$(SIM_DATA)/world.json)

GENERATE = $(RUN) -m data generate --size $(SIZE) --seed $(SEED) --scenario $(SCENARIO) \
	$(if $(SWITCH_DAY),--switch-day $(SWITCH_DAY)) --out

UV  := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
ENV := .venv/.synced
RUN := .venv/bin/python

# Configuration overrides for levels 1 and up, e.g. SET="model.l2=20000 evaluation.k=20".
SET ?=
SET_ARGS = $(foreach value,$(SET),--set $(value))

.DEFAULT_GOAL := help
.PHONY: help test lint data clean distclean

# Each target's `## ` comment is its help line; the first file to describe a target wins.
help: ## List the targets
	@grep -hE '^[a-z0-9_ -]+:.*## ' $(MAKEFILE_LIST) $(HELP_EXTRA) \
		| awk -F':.*## ' '!seen[$$1]++ {printf "  make %-16s %s\n", $$1, $$2}'
	@echo "  knobs: SIZE=$(SIZE) (tiny|small|medium|large|<interactions>) SEED=$(SEED) SCENARIO=$(SCENARIO) DATA=<folder>"

test: $(ENV) ## Run the full test suite
	$(RUN) -m pytest

lint: $(ENV) ## Check style with ruff
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

data: $(ENV) ## Generate the simulated dataset (SIZE, SEED, SCENARIO, SWITCH_DAY)
	$(GENERATE) $(SIM_DATA)

# A pattern, so that a level's own defaults (set after this file is read) name the folder.
$(STATE)/datasets/%/world.json: | $(ENV)
	$(GENERATE) $(@D)

clean: ## Delete all run state (datasets, models, reports, tracking databases)
	rm -rf $(STATE)

distclean: clean ## Also delete the environment and the bootstrapped uv
	rm -rf .venv .tools

# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (as in many CI images and
# containers) Python would otherwise compile MLflow, Prefect and the rest again in every process,
# about 6 s each on 2 cores. This file is a prerequisite so that a change to this line applies.
$(ENV): pyproject.toml uv.lock mk/common.mk | $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)
