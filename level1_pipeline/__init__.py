"""Level 1, ML pipeline automation: a Prefect flow trains the model and MLflow records each run."""

#: The package's own name. It also names the package's flow, deployment, experiment and state
#: folder, so a copy renamed by ``make template NAME=…`` names its own.
PACKAGE = __name__
