"""The interest classifier: training and model comparison tracked in MLflow
(ml.train), the registry's promotion gate and alias history (ml.registry), and
scoring new users with the champion (ml.scoring)."""
