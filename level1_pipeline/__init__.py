"""Level 1, ML pipeline automation: a Prefect flow trains the model and MLflow records each run."""
