"""The recommender as an MLflow model ("models from code": MLflow runs this file to load it).

MLflow's generic ``pyfunc`` interface takes a frame of ``user_id`` and a ``k`` parameter and
returns the ranked items, so anything that can load an MLflow model (a batch job, ``mlflow models
serve``, the serving API of level 2) can use the recommender without knowing what EASE is.
"""

from __future__ import annotations

import joblib
import mlflow
import pandas as pd
from mlflow.models import set_model

#: The name of the fitted recommender among the model's artifacts.
RECOMMENDER_ARTIFACT = "recommender"


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """Wraps a fitted ``Recommender`` from ``model.py``, stored as a joblib artifact."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the fitted recommender once, when MLflow loads the model."""
        self.recommender = joblib.load(context.artifacts[RECOMMENDER_ARTIFACT])

    def predict(
        self,
        model_input: pd.DataFrame,
        params: dict[str, int] | None = None,
    ) -> pd.DataFrame:
        """The top ``params["k"]`` items (10 by default) for each ``user_id`` of ``model_input``.

        No ``context`` parameter: MLflow passes it only to a ``predict`` that declares it.
        """
        k = int((params or {}).get("k", 10))
        return self.recommender.recommend(model_input["user_id"].to_numpy(), k=k)


set_model(RecommenderModel())
