# Level 2's make targets. The repository's Makefile runs them with mk/common.mk; a project made
# from this level (make template) includes both in its own Makefile.
.PHONY: demo level2 level2-tune serve serve-stop ui-mlflow
UI_PORT ?= 5000

# The service that level2 deploys is stopped at the end, whether the release passed or not.
demo: $(ENV) ## Set up, generate the dataset, release with level 2, stop the service
	@$(MAKE) --no-print-directory level2; status=$$?; \
		$(MAKE) --no-print-directory serve-stop; exit $$status

level2: $(ENV) $(DATASET) ## Level 2: train, gate, register, promote, deploy, smoke test (DATA=, SET=)
	$(RUN) -m level2_cicd.stages all --data $(DATA) $(SET_ARGS)

level2-tune: $(ENV) $(DATASET) ## Level 2: pick model.l2 on the training period's last days, not the test period (DATA=, SET=)
	$(RUN) -m level2_cicd.train --tune --data $(DATA) $(SET_ARGS)

serve: $(ENV) ## Level 2's serving API in the foreground (loads models:/recommender@champion)
	$(RUN) -m level2_cicd.serve $(SET_ARGS)

serve-stop: $(ENV) ## Stop the serving API that `make level2` deployed
	$(RUN) -m level2_cicd.stages stop

ui-mlflow: $(ENV) ## The MLflow UI on this level's runs (UI_PORT=5000; Ctrl-C stops)
	@echo "MLflow UI on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --workers 1 \
		--backend-store-uri sqlite:///$(abspath $(STATE)/level2_cicd/mlflow.db) \
		--host 127.0.0.1 --port $(UI_PORT)
