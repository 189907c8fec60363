"""Training helpers for the recipes (no Trainer: recipes own the loop): typed configs with
declared ranges (``config``), start checks against the shards (``checks``), atomic checkpoints
and exact resume (``state``), the run's output folder across restarts (``runs``), the
optimiser (``optim``), training until the validation score plateaus (``plateau``), stopping a
diverging run (``divergence``), the latent-adversarial recipe's batch helpers (``latent``),
experiments of many runs (``experiments``)."""
