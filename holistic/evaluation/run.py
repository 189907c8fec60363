"""Evaluate a model on a federation split and write the results: what recipes and
``holistic evaluate`` share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from holistic.evaluation.evaluate import (
    Predictions,
    compute_metrics,
    to_jsonable,
    trivial_predictions,
)
from holistic.schema import LabelSpace

__all__ = [
    "CompoundTarget",
    "evaluate_model",
    "evaluate_pooled",
    "eval_splits",
    "pool_predictions",
    "write_evaluation",
    "zeroshot_compounds",
]


@dataclass
class CompoundTarget:
    """A dataset with compound labels to score zero-shot, and its class list."""

    dataset: str = "rafdb-compound"
    split: str = "test"
    compounds: str | list[str] = "rafdb11"  # a vocabulary name or the class names in order


def eval_splits(
    manifest: Mapping[str, Any],
    split: str | Sequence[str],
    datasets: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """``{split: [dataset, ...]}``: every dataset of the federation (or of ``datasets``) under the
    first split of ``split`` it has (a name, or names in order of preference such as
    ``["validation", "test"]`` for sources like RAF-DB that publish no validation split)."""
    preferences = [split] if isinstance(split, str) else list(split)
    chosen: dict[str, list[str]] = {}
    for name, entry in manifest["datasets"].items():
        if datasets is not None and name not in datasets:
            continue
        for candidate in preferences:
            if candidate in entry["splits"]:
                chosen.setdefault(candidate, []).append(name)
                break
    return chosen


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    federation,
    label_space: LabelSpace,
    *,
    split: str | Sequence[str] = "validation",
    datasets: Sequence[str] | None = None,
    image_size: int = 112,
    batch_size: int = 128,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
) -> Predictions:
    """This rank's predictions on every sample of ``split`` (gather ``state()`` across ranks);
    with several splits, each dataset on the first it has (:func:`eval_splits`)."""
    from holistic.data.federation import eval_batches
    from holistic.data.transforms import build_eval_transform

    was_training = model.training
    model.eval()
    predictions = Predictions()
    for split_name, chosen in eval_splits(federation.manifest, split, datasets).items():
        for batch in eval_batches(
            federation,
            label_space,
            build_eval_transform(image_size),
            split=split_name,
            datasets=chosen,
            batch_size=batch_size,
            rank=rank,
            world_size=world_size,
        ):
            outputs = model(batch["image"].to(device))
            predictions.add(
                {k: v for k, v in batch.items() if not isinstance(v, list)},
                {k: v.float().cpu() for k, v in outputs.items()},
                batch["dataset"],
            )
    model.train(was_training)
    return predictions


def evaluate_pooled(
    accelerator, model: torch.nn.Module, federation, label_space: LabelSpace, **kwargs: Any
) -> Predictions:
    """:func:`evaluate_model` on this process's share of the split, pooled over every process
    (as ABAW pools a split); ``kwargs``: ``split``, ``datasets``, ``image_size``, ``batch_size``."""
    predictions = evaluate_model(
        model,
        federation,
        label_space,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
        device=accelerator.device,
        **kwargs,
    )
    return pool_predictions(predictions)


def pool_predictions(predictions: Predictions) -> Predictions:
    """Every process's predictions, merged (the same on every process); one process: as is."""
    from accelerate.utils import gather_object

    pooled = Predictions()
    for state in gather_object([predictions.state()]):
        pooled.merge(Predictions.from_state(state))
    return pooled


def write_evaluation(
    out: str | Path,
    predictions: Predictions,
    label_space: LabelSpace,
    *,
    history: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    summary: Mapping[str, Any] | None = None,
    title: str = "Evaluation report",
    extra_sections: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Compute the metrics and write ``metrics.json``, ``plots/`` and ``report.md`` in ``out``
    (with ``extra_sections``, ``{heading: markdown}``, at its end).

    ``metrics.json`` and the report also hold the metrics of trivial predictors on the same
    samples (:func:`~holistic.evaluation.evaluate.trivial_predictions`): the chance levels the
    model's numbers are read against.

    Returns the metrics (``{}`` when nothing was evaluated).
    """
    from holistic.evaluation.plots import plot_metrics
    from holistic.evaluation.tables import metrics_markdown, write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(predictions, label_space) if len(predictions) else {}
    document = {**(summary or {}), "metrics": metrics}
    sections = dict(extra_sections or {})
    if metrics:
        trivial = compute_metrics(trivial_predictions(predictions), label_space)
        document["trivial"] = trivial
        sections = {
            "Chance levels": "The same samples scored with trivial predictors: valence-arousal "
            "constant at 0, each dataset's most frequent class, every AU present.\n\n"
            + metrics_markdown(trivial, label_space, per_class=False),
            **sections,
        }
    (out / "metrics.json").write_text(json.dumps(to_jsonable(document), indent=1, allow_nan=False))
    va = None
    if len(predictions) and "va" in predictions.tasks:
        mask = predictions["va_mask"].astype(bool)
        if mask.any():  # e.g. a compound fine-tuning split has no VA labels
            va = (predictions["va_pred"][mask], predictions["va"][mask])
    plots = {}
    if metrics or history:
        plots = plot_metrics(
            metrics,
            label_space.expressions,
            out / "plots",
            va=va,
            history=history or None,
            compounds=label_space.compounds,
        )
    write_report(out, metrics, plots, sections, label_space=label_space, title=title)
    return metrics


@torch.no_grad()
def zeroshot_compounds(
    model: torch.nn.Module,
    federation,
    *,
    dataset: str,
    split: str,
    compounds: Sequence[str],
    table: str | Path = "compound",
    image_size: int = 112,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Eq. 10 zero-shot compound scores of ``model`` on ``dataset``/``split`` (no compound
    label is trained on); see :func:`holistic.evaluation.zeroshot.zeroshot_metrics` for the keys.

    ``model`` must have ``expressions`` and ``aus`` (a FaceBehaviorNet) and output ``va``,
    ``expr`` and ``au``; ``table`` names the prototypical-AU table (or a path to one).

    Raises:
        ValueError: ``dataset`` has no ``split`` samples in the federation.
    """
    import numpy as np

    import relatedness
    from holistic.data.federation import eval_batches
    from holistic.data.transforms import build_eval_transform
    from holistic.evaluation.zeroshot import predict_compounds, zeroshot_metrics

    compounds = tuple(compounds)
    prototypes = relatedness.load_table(table).compound_prototypes(compounds, model.aus)
    space = LabelSpace(model.expressions, model.aus, compounds)
    was_training = model.training
    model.eval()
    predictions, targets, masks = [], [], []
    for batch in eval_batches(
        federation,
        space,
        build_eval_transform(image_size),
        split=split,
        datasets=[dataset],
        batch_size=batch_size,
    ):
        outputs = {k: v.float().cpu() for k, v in model(batch["image"].to(device)).items()}
        predictions.append(
            predict_compounds(
                torch.sigmoid(outputs["au"]).numpy(),
                torch.softmax(outputs["expr"], dim=-1).numpy(),
                outputs["va"][:, 0].numpy(),
                prototypes=prototypes.numpy(),
                compounds=compounds,
                expressions=model.expressions,
            )
        )
        targets.append(batch["compound"].numpy())
        masks.append(batch["compound_mask"].numpy())
    model.train(was_training)
    if not predictions:
        raise ValueError(
            f"{dataset} has no {split} samples in the federation; federate it first "
            "(holistic federate / holistic synth --federate)"
        )
    return zeroshot_metrics(
        np.concatenate(predictions), np.concatenate(targets), len(compounds), np.concatenate(masks)
    )
