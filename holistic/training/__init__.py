"""Training helpers for the recipes (no Trainer: recipes own the loop): typed configs with
declared ranges (``config``), start checks against the shards (``checks``), atomic checkpoints
and exact resume (``state``), the run's output folder across restarts (``runs``), the
optimiser (``optim``), experiments of many runs (``experiments``)."""
