"""Level 1, ML pipeline automation: a Prefect flow trains the recommender, MLflow records every run."""
