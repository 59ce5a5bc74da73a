# Level 1's make targets. The repository's Makefile runs them with mk/common.mk; a project made
# from this level (make template) includes both in its own Makefile.
.PHONY: demo level1 level1-tune level1-schedule ui-mlflow
UI_PORT ?= 5000

demo: level1 ## Set up, generate the dataset and run level 1

level1: $(ENV) $(DATASET) ## Level 1: the Prefect training flow, tracked in MLflow (DATA=, SET=)
	$(RUN) -m level1_pipeline.train --data $(DATA) $(SET_ARGS)

level1-tune: $(ENV) $(DATASET) ## Level 1: pick model.l2 on the training period's last days, not the test period (DATA=, SET=)
	$(RUN) -m level1_pipeline.train --tune --data $(DATA) $(SET_ARGS)

level1-schedule: $(ENV) $(DATASET) ## Level 1 on a schedule (a local Prefect server; Ctrl-C stops)
	$(RUN) -m level1_pipeline.train --schedule --data $(DATA) $(SET_ARGS)

ui-mlflow: $(ENV) ## The MLflow UI on this level's runs (UI_PORT=5000; Ctrl-C stops)
	@echo "MLflow UI on http://127.0.0.1:$(UI_PORT) (Ctrl-C stops)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow ui --workers 1 \
		--backend-store-uri sqlite:///$(abspath $(STATE)/level1_pipeline/mlflow.db) \
		--host 127.0.0.1 --port $(UI_PORT)
