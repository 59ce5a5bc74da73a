"""The servers a team runs, started on 127.0.0.1 by ``make stack`` for the levels to run against.

PostgreSQL (the system's, or the binaries of a wheel), an MLflow tracking server on it with a
proxied artifact store, a Prefect server on it with a process work pool and one worker, and the
Evidently UI. The levels reach it through the tools' own variables (``MLFLOW_TRACKING_URI``,
``PREFECT_API_URL``, ``PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME``): no level imports this
package, and no level names it.
"""
