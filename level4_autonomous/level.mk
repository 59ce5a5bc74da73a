# Level 4's make targets. The repository's Makefile runs them with mk/common.mk; a project made
# from this level (make template) includes both in its own Makefile.
.PHONY: demo level4 level4-tune serve serve-stop ui-mlflow ui-evidently explain
UI_PORT ?= 5000
EVIDENTLY_PORT ?= 8090
# Production days after the history (days 0-89), and the scenario's switch a week into them.
DAYS ?= 21
SWITCH_DAY ?= 97
# Share of the day's visitors sent to the service over HTTP (1 = all of them).
HTTP_SHARE ?= 1
# Another run's state folder (e.g. a level without reactions, on the same world) to draw beside.
BESIDE ?=
LEVEL4_STATE := $(STATE)/level4_autonomous

# The demo's world changes taste a week into production: the level has something to react to.
# The service that level4 deploys is stopped at the end, whether the run passed or not.
demo: $(ENV) ## Set up, generate the dataset, release, play 10 production days of a taste shift it reacts to
	@$(MAKE) --no-print-directory level4 SCENARIO=taste_shift DAYS=10; status=$$?; \
		$(MAKE) --no-print-directory serve-stop; exit $$status

level4: $(ENV) $(DATASET) ## Level 4: release, then DAYS production days that retrain, check online, promote and roll back by themselves (SCENARIO, SWITCH_DAY, HTTP_SHARE)
	$(RUN) -m level4_autonomous.production --data $(DATA) --days $(DAYS) \
		--http-share $(HTTP_SHARE) $(if $(BESIDE),--beside $(BESIDE)) $(SET_ARGS)

level4-tune: $(ENV) $(DATASET) ## Level 4: pick model.l2 on the training period's last days, not the test period (DATA=, SET=)
	$(RUN) -m level4_autonomous.train --tune --data $(DATA) $(SET_ARGS)

serve: $(ENV) ## Level 4's serving API in the foreground (loads models:/recommender@champion, logs predictions)
	$(RUN) -m level4_autonomous.serve $(SET_ARGS)

serve-stop: $(ENV) ## Stop the serving API that `make level4` deployed
	$(RUN) -m level4_autonomous.stages stop

explain: $(ENV) ## Which model version served request REQUEST, trained on which data
	@test -n "$(REQUEST)" || { echo "error: name the request: make explain REQUEST=<request_id> \
	(every answer's request_id, also in its X-Request-ID header)" >&2; exit 2; }
	$(RUN) -m level4_autonomous.prediction_log explain $(REQUEST) $(SET_ARGS)

ui-mlflow: $(ENV) ## The MLflow UI on this level's runs (UI_PORT=5000; Ctrl-C stops)
	@echo "MLflow UI on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --workers 1 \
		--backend-store-uri sqlite:///$(abspath $(LEVEL4_STATE)/mlflow.db) \
		--host 127.0.0.1 --port $(UI_PORT)

ui-evidently: $(ENV) ## The Evidently UI on this level's monitoring reports (EVIDENTLY_PORT=8090)
	@echo "Evidently UI on http://127.0.0.1:$(EVIDENTLY_PORT) (Ctrl-C stops)"
	.venv/bin/evidently ui --workspace $(LEVEL4_STATE)/evidently \
		--host 127.0.0.1 --port $(EVIDENTLY_PORT)
