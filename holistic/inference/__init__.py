"""Inference for users: trained models on new images and videos (``holistic predict``).

:class:`Predictor` turns a checkpoint and images, folders, videos, arrays or frame iterators into
a table whose columns are :mod:`holistic.inference.columns`; :mod:`holistic.inference.render`
draws annotated copies and per-video figures from it, and :func:`write_submission` the ABAW
challenge files.
"""

from holistic.inference.abaw import write_submission
from holistic.inference.predictor import Face, PredictionSummary, Predictor

__all__ = ["Face", "PredictionSummary", "Predictor", "write_submission"]
