"""Level 0, the manual process: a script trains the recommender and hands over a joblib file."""
