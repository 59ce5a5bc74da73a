# One recommender, five MLOps maturity levels. `make help` lists the targets.
#
# mk/common.mk bootstraps everything from python3 (uv, then the locked environment in .venv/) and
# has the targets every project needs (test, lint, data, clean). Each level's own targets are in
# its level.mk and run in a make of their own, with mk/common.mk and that one file, exactly as in
# a project made from the level by `make template`.

include mk/common.mk

LEVELS := $(sort $(patsubst %/,%,$(dir $(wildcard level*/level.mk))))
HELP_EXTRA := $(foreach level,$(LEVELS),$(level)/level.mk)
in_level = @$(MAKE) --no-print-directory -f mk/common.mk -f $(1)/level.mk $(2)

UI_LEVEL ?= level1_pipeline
FROM ?= level0_manual
TO   ?= level1_pipeline

.PHONY: demo compare docs-figure level0 level1 level1-schedule level1-tune level2 level2-tune serve \
	serve-stop level3 level3-tune level4 level4-tune explain ui-evidently \
	ui-mlflow bench bench-serve bench-serve-logging bench-monitoring bench-detection \
	bench-window bench-autonomy bench-training bench-ops bench-stack bench-tuning diff template assess stack \
	stack-stop stack-status stop-stack-before-clean

# The demo's world: a new catalogue four days into production, the change the levels tell apart
# best (levels 0-2 never notice, level 3 alerts, level 4 retrains and promotes).
DEMO_WORLD := SCENARIO=catalog_shift DAYS=10 SWITCH_DAY=94

demo: $(ENV) ## From a fresh clone: set up, run the five levels on one world, compare them on one page
	@$(MAKE) --no-print-directory compare $(DEMO_WORLD)

# The five levels on one world, each by its own make target, then one page that compares them.
compare: $(ENV) ## The five levels on the same world and days: state/compare/<SCENARIO>/compare.html (SCENARIO=all for every one; SEED, SIZE, DAYS, SWITCH_DAY)
	$(RUN) -m compare --scenario $(SCENARIO) --seed $(SEED) --size $(SIZE) \
		--days $(or $(DAYS),21) --switch-day $(or $(SWITCH_DAY),97)

# The README's figure, from a real run of the demo's world.
docs-figure: $(ENV) ## Regenerate docs/compare.png (the README's figure) from a run of the demo's world
	@$(MAKE) --no-print-directory compare $(DEMO_WORLD)
	cp $(STATE)/compare/catalog_shift/compare.png docs/compare.png

level0:
	$(call in_level,level0_manual,$@)

level1 level1-schedule level1-tune:
	$(call in_level,level1_pipeline,$@)

level2 level2-tune serve:
	$(call in_level,level2_cicd,$@)

serve-stop: # the services make level2, level3 and level4 left running (each level's own target)
	$(call in_level,level2_cicd,$@)
	$(call in_level,level3_monitoring,$@)
	$(call in_level,level4_autonomous,$@)

level3 level3-tune explain ui-evidently:
	$(call in_level,level3_monitoring,$@)

# Level 4 draws level 3's run of the same world and days beside its own, when there is one.
level4:
	$(call in_level,level4_autonomous,$@ BESIDE=$(STATE)/level3_monitoring)

level4-tune:
	$(call in_level,level4_autonomous,$@)

ui-mlflow: ## The MLflow UI on a level's runs (UI_LEVEL=level1_pipeline, UI_PORT=5000)
	$(call in_level,$(UI_LEVEL),$@)

bench-serve: $(ENV) $(DATASET) ## Benchmark: level 2's serving API: p50/p99 at 50-200 requests/s, the most it serves with p99 <= 50 ms on 1, 2 and 4 processes, a model swap
	$(RUN) -m benchmarks.serve_load --data $(DATA)

BENCHMARKS := bench-ops bench-serve bench-serve-logging bench-monitoring bench-detection \
	bench-window bench-autonomy bench-training bench-tuning bench-stack

# A benchmark that fails, or whose acceptance rules are not all met (bench-detection and
# bench-autonomy exit 1 then), does not stop the others: the results file gets what every one
# measured, and make bench names the ones that failed at the end (exit 1).
bench: $(ENV) ## Every benchmark (about two hours), then one results file: state/bench/results.json
	@failed=""; for target in $(BENCHMARKS); do \
		printf '\n==== %s ====\n' $$target; \
		$(MAKE) --no-print-directory $$target || failed="$$failed $$target"; \
	done; \
	$(RUN) -m benchmarks.results; \
	if [ -n "$$failed" ]; then echo "failed or not every rule met:$$failed" >&2; exit 1; fi

bench-serve-logging: $(ENV) $(DATASET) ## Benchmark: level 3's serving p50/p99 with the prediction log on and off
	$(RUN) -m benchmarks.serve_logging --data $(DATA)

bench-monitoring: $(ENV) ## Benchmark: level 3's monitoring time per day for 10k, 100k and 1M logged requests
	$(RUN) -m benchmarks.monitoring_cost

bench-detection: $(ENV) ## Benchmark: level 3's alerts on every scenario for seeds 42, 1 and 2 (its acceptance)
	$(RUN) -m benchmarks.detection

bench-window: $(ENV) ## Benchmark: which days level 4's retraining should read, judged by the world itself
	$(RUN) -m benchmarks.training_window

bench-autonomy: $(ENV) ## Benchmark: level 4's reactions on every scenario for seeds 42, 1 and 2 (its acceptance)
	$(RUN) -m benchmarks.autonomy

bench-training: $(ENV) ## Benchmark: EASE's fit, evaluation and peak memory for sizes tiny to large (10M)
	$(RUN) -m benchmarks.training_cost

# MOVIELENS=<folder> tunes on an imported MovieLens dataset too (see "The data").
bench-tuning: $(ENV) $(DATASET) ## Benchmark: level 1's tuning of l2 on the default world (and MOVIELENS=<folder>), both values judged on the test period
	$(RUN) -m benchmarks.tuning_gain --data $(DATA) $(if $(MOVIELENS),--also $(MOVIELENS))

bench-stack: $(ENV) $(DATASET) ## Benchmark: make stack's start-up, level 2 embedded against the servers (and their worker), registry calls/s, serving from the tracking server
	$(RUN) -m benchmarks.stack_cost --data $(DATA)

bench-ops: $(ENV) ## Benchmark: each level's make target alone and after one shared start-up (median of 3)
	$(RUN) -m benchmarks.ops_overhead

diff: ## What a step up costs: the code diff between two levels (FROM, TO)
	@diff -ru --exclude=__pycache__ --exclude=README.md $(FROM) $(TO) || true

template: $(ENV) ## A level as a standalone project of its own (LEVEL, DEST, NAME=)
	$(RUN) -m template $(if $(LEVEL),--level $(LEVEL)) $(if $(DEST),--dest $(DEST)) \
		$(if $(NAME),--name $(NAME))

# MLOps Compass: the team's level, its weakest dimension and which level to copy (README: "Where
# does your team stand?"). Asks in the terminal; REPO= reads the answers it can from a repository's
# code first; ANSWERS= a TOML or JSON file of answers instead of questions. Not echoed, so that
# `make assess FORMAT=json > report.json` is the report alone.
assess: $(ENV) ## Where does your team stand? The questions, or REPO=<path> and ANSWERS=<file> (FORMAT=text|markdown|json)
	@$(RUN) -m assessment $(if $(REPO),--repo $(REPO)) $(if $(ANSWERS),--answers $(ANSWERS)) $(if $(FORMAT),--format $(FORMAT))

# The servers a team would run, on 127.0.0.1, for the levels to run against (README: "Growing
# past one machine"). They keep running until make stack-stop; make clean stops them first.
stack: $(ENV) ## PostgreSQL, MLflow and Prefect servers, a worker and the Evidently UI on 127.0.0.1 (state/stack/)
	$(RUN) -m stack start

stack-stop: $(ENV) ## Stop every server make stack started
	$(RUN) -m stack stop

stack-status: $(ENV) ## Whether each server of make stack is running and answers
	$(RUN) -m stack status

clean: stop-stack-before-clean
stop-stack-before-clean:
	@if [ -f $(STATE)/stack/stack.json ] && [ -x $(RUN) ]; then $(RUN) -m stack stop; fi
