"""Training helpers for the recipes: configs, checkpoints, tracking (no Trainer; recipes own the loop)."""
