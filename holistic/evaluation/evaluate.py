"""Accumulate model outputs with their labels and score them per dataset × task (Table VI style).

:class:`Predictions` collects, batch by batch, what :meth:`holistic.schema.LabelSpace.project_batch`
gives (labels with masks), the model's outputs and each sample's source dataset.
:func:`compute_metrics` turns it into a JSON-ready dict ``{dataset: {task: {metric: value}}}`` with
an ``"all"`` pseudo-dataset pooling every sample. Every number comes from :mod:`holistic.metrics`;
nothing here re-implements a metric.

Conventions (docs/evaluation.md):

- Outputs are ``va`` ``[B, 2]`` (valence, arousal), ``expr`` ``[B, E]`` logits, ``au`` ``[B, A]``
  logits and optionally ``compound`` ``[B, C]`` logits. They are stored as predictions
  (VA as given, softmax expression probabilities, sigmoid AU probabilities).
- A task appears for a dataset only if that dataset has at least one valid label for it and the
  model produced that head.
- Metrics are pooled over all valid samples of a dataset (reference/metrics.md §0), never averaged
  per video.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from holistic.metrics import (
    accuracy,
    afa,
    au_scores,
    ccc,
    confusion_diag,
    confusion_matrix,
    e_total,
    f1_macro,
    f1_per_class,
    pearson,
    rmse,
    uar,
)
from holistic.metrics._arrays import ArrayLike, as_array
from holistic.schema import LabelSpace

__all__ = ["ALL", "TASKS", "Predictions", "compute_metrics", "to_jsonable", "trivial_predictions"]

#: The pseudo-dataset that pools every sample.
ALL = "all"
#: Tasks in report order.
TASKS: tuple[str, ...] = ("va", "expr", "au", "compound")

# Label keys (from LabelSpace.project_batch) and the output key each task reads.
_LABELS = {
    "va": ("va", "va_mask"),
    "expr": ("expr", "expr_mask"),
    "au": ("au", "au_mask"),
    "compound": ("compound", "compound_mask"),
}


def _numpy(x: ArrayLike, name: str) -> np.ndarray:
    return as_array(x, name)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # overflow-free logistic


class Predictions:
    """Model outputs and labels of an evaluation pass, kept as numpy arrays on the CPU.

    Use :meth:`add` once per batch, :meth:`merge` to combine the shards of several processes (or
    ``Predictions.from_state`` on gathered :meth:`state` dicts), then :func:`compute_metrics`.

    Stored arrays (all with ``N`` rows): ``dataset`` (str), ``video`` (str, ``""`` for a still;
    only when :meth:`add` is given video ids), per task the labels and masks of
    :meth:`LabelSpace.project_batch` and the predictions ``va_pred`` ``[N, 2]``, ``expr_prob``
    ``[N, E]``, ``au_prob`` ``[N, A]``, ``compound_prob`` ``[N, C]``. A task whose head was not in
    the outputs is not stored; every batch must carry the same heads.

    :attr:`damaged_shards` lists the shards found damaged while reading the samples, when the
    evaluation tolerated damage (rows of :meth:`holistic.data.damage.DamageLog.rows`); the
    report lists them. :attr:`frames_without_audio` counts the frames a model that takes audio
    was fed its stand-in for missing audio.
    """

    def __init__(self) -> None:
        self._chunks: dict[str, list[np.ndarray]] = {}
        self._tasks: tuple[str, ...] | None = None
        self.damaged_shards: list[dict[str, Any]] = []
        self.frames_without_audio = 0

    # -- accumulation ----------------------------------------------------------------------------

    def add(
        self,
        batch_labels: Mapping[str, ArrayLike],
        outputs: Mapping[str, ArrayLike],
        datasets: Sequence[str],
        videos: Sequence[str | None] | None = None,
    ) -> None:
        """Append one batch.

        Args:
            batch_labels: labels and masks as :meth:`LabelSpace.project_batch` returns them
                (torch tensors or numpy arrays); extra keys are ignored.
            outputs: model outputs: ``va`` ``[B, 2]``, ``expr`` ``[B, E]`` logits, ``au``
                ``[B, A]`` logits, optionally ``compound`` ``[B, C]`` logits. Missing heads are
                allowed (a single-task network) but must be missing from every batch.
            datasets: the source dataset name of each sample, length ``B``.
            videos: optionally the video of each sample (None or ``""`` for a still), length
                ``B``; the VA metrics then count the videos behind them. Give them with every
                batch or with none.

        Raises:
            ValueError: inconsistent batch sizes or shapes, a head present in some batches only,
                labels missing for a head, non-finite outputs, video ids in some batches only.
        """
        names = np.asarray([str(d) for d in datasets], dtype=str)
        b = names.shape[0]
        if b == 0:
            raise ValueError("datasets: expected one name per sample, got an empty batch")
        rows: dict[str, np.ndarray] = {"dataset": names}
        if videos is not None:
            rows["video"] = np.asarray(["" if v is None else str(v) for v in videos], dtype=str)
            if rows["video"].shape != (b,):
                raise ValueError(
                    f"videos: expected one video id per sample ({b}), got {rows['video'].shape[0]}"
                )
        if self._chunks and ("video" in rows) != ("video" in self._chunks):
            before, now = ("with", "without") if videos is None else ("without", "with")
            raise ValueError(
                f"videos: expected them with every batch or with none, got a batch {now} video "
                f"ids after batches {before}"
            )
        tasks = tuple(t for t in TASKS if t in outputs)
        if not tasks:
            raise ValueError(
                f"outputs: expected at least one of {list(TASKS)}, got {list(outputs)}"
            )
        if self._tasks is None:
            self._tasks = tasks
        elif tasks != self._tasks:
            raise ValueError(
                f"outputs: expected the heads {list(self._tasks)} of earlier batches, got "
                f"{list(tasks)}"
            )
        first = _numpy(outputs[tasks[0]], f"outputs[{tasks[0]!r}]")
        if first.ndim == 0 or first.shape[0] != b:
            raise ValueError(
                f"datasets: expected one name per sample, got {b} names for outputs "
                f"[{tasks[0]!r}] of shape {tuple(first.shape)}"
            )
        for task in tasks:
            label_key, mask_key = _LABELS[task]
            for key in (label_key, mask_key):
                if key not in batch_labels:
                    raise ValueError(
                        f"batch_labels: expected {key!r} for the {task!r} head, got "
                        f"{sorted(batch_labels)}"
                    )
            pred = _numpy(outputs[task], f"outputs[{task!r}]").astype(np.float64)
            labels = _numpy(batch_labels[label_key], label_key)
            mask = _numpy(batch_labels[mask_key], mask_key).astype(bool)
            if pred.ndim != 2 or pred.shape[0] != b:
                raise ValueError(f"outputs[{task!r}]: expected shape [{b}, K], got {pred.shape}")
            if not np.isfinite(pred).all():
                raise ValueError(f"outputs[{task!r}]: expected finite values")
            if labels.shape[0] != b or mask.shape[0] != b:
                raise ValueError(
                    f"{label_key}: expected {b} rows like datasets, got labels {labels.shape} "
                    f"and mask {mask.shape}"
                )
            if task == "va":
                if pred.shape[1] != 2 or labels.shape != (b, 2):
                    raise ValueError(
                        f"va: expected predictions and labels [{b}, 2], got {pred.shape} and "
                        f"{labels.shape}"
                    )
                rows["va_pred"] = pred
            elif task == "au":
                if labels.shape != pred.shape or mask.shape != pred.shape:
                    raise ValueError(
                        f"au: expected logits, labels and mask of one shape, got {pred.shape}, "
                        f"{labels.shape} and {mask.shape}"
                    )
                rows["au_prob"] = _sigmoid(pred)
            else:
                if labels.ndim != 1:
                    raise ValueError(
                        f"{label_key}: expected class indices [{b}], got {labels.shape}"
                    )
                rows[f"{task}_prob"] = _softmax(pred)
            rows[label_key] = labels.astype(np.float64 if task in ("va", "au") else np.int64)
            rows[mask_key] = mask
        self._append(rows)

    def _append(self, rows: Mapping[str, np.ndarray]) -> None:
        if self._chunks and set(rows) != set(self._chunks):
            raise ValueError(f"expected the keys {sorted(self._chunks)}, got {sorted(rows)}")
        for key, value in rows.items():
            chunks = self._chunks.setdefault(key, [])
            if chunks and chunks[0].shape[1:] != value.shape[1:]:
                raise ValueError(
                    f"{key}: expected trailing shape {chunks[0].shape[1:]} like earlier batches, "
                    f"got {value.shape[1:]}"
                )
            chunks.append(value)

    def merge(self, other: Predictions) -> Predictions:
        """Append every sample of ``other`` (e.g. another process's share), its damaged shards
        and its frames without audio; returns ``self``."""
        from holistic.data.damage import merge_damage

        if other.damaged_shards:
            self.damaged_shards = merge_damage(self.damaged_shards, other.damaged_shards)
        self.frames_without_audio += other.frames_without_audio
        if len(other) == 0:
            return self
        if self._tasks is not None and other._tasks != self._tasks:
            raise ValueError(f"merge: heads differ: {list(self._tasks)} vs {list(other._tasks)}")
        self._tasks = other._tasks
        self._append(other.state())
        return self

    # -- access ----------------------------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` is stored (e.g. ``"video"``, ``"au_prob"``)."""
        return key in self._chunks

    def __len__(self) -> int:
        return int(sum(c.shape[0] for c in self._chunks.get("dataset", [])))

    @property
    def tasks(self) -> tuple[str, ...]:
        """The heads stored, in :data:`TASKS` order (empty before the first batch)."""
        return self._tasks or ()

    @property
    def datasets(self) -> list[str]:
        """Dataset names in order of first appearance."""
        if not self._chunks:
            return []
        names = self["dataset"]
        _, first = np.unique(names, return_index=True)
        return [str(names[i]) for i in sorted(first)]

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._chunks:
            raise KeyError(f"{key!r}: stored keys are {sorted(self._chunks)}")
        chunks = self._chunks[key]
        if len(chunks) > 1:  # concatenate once, keep the result
            self._chunks[key] = [np.concatenate(chunks)]
        return self._chunks[key][0]

    def state(self) -> dict[str, np.ndarray]:
        """Everything as a dict of plain numpy arrays (picklable; for gathering and saving)."""
        return {key: self[key] for key in self._chunks}

    @classmethod
    def from_state(cls, state: Mapping[str, ArrayLike]) -> Predictions:
        """Rebuild from :meth:`state` (or from several states concatenated key by key)."""
        out = cls()
        if not state:
            return out
        strings = ("dataset", "video")
        arrays = {
            key: np.asarray(value).astype(str) if key in strings else _numpy(value, key)
            for key, value in state.items()
        }
        out._tasks = tuple(t for t in TASKS if _LABELS[t][0] in arrays)
        n = arrays["dataset"].shape[0]
        bad = [k for k, v in arrays.items() if v.shape[0] != n]
        if bad:
            raise ValueError(f"state: expected {n} rows in every array, {bad} differ")
        out._append(arrays)
        return out


def trivial_predictions(predictions: Predictions) -> Predictions:
    """The same samples and labels with the predictions of trivial models, for the chance rows of
    a report: valence-arousal constant at 0 (CCC 0), each dataset's most frequent labelled class
    for expressions and compounds (UAR = 1/K), every AU present (F1 = 2p / (1 + p) for an AU
    present in a fraction p of the samples)."""
    state = dict(predictions.state())
    names = state["dataset"]
    if "va_pred" in state:
        state["va_pred"] = np.zeros_like(state["va_pred"])
    if "au_prob" in state:
        state["au_prob"] = np.ones_like(state["au_prob"])
    for task in ("expr", "compound"):
        if f"{task}_prob" not in state:
            continue
        probs = np.zeros_like(state[f"{task}_prob"])
        for dataset in np.unique(names):
            rows = names == dataset
            labels = state[task][rows & state[f"{task}_mask"].astype(bool)]
            majority = np.bincount(labels, minlength=probs.shape[1]).argmax() if labels.size else 0
            probs[rows, majority] = 1.0
        state[f"{task}_prob"] = probs
    return Predictions.from_state(state)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays into Python numbers/lists and NaN/inf into ``None``."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _au_threshold(
    thresholds: float | ArrayLike | Mapping[int, float] | None, label_space: LabelSpace
) -> float | np.ndarray:
    if thresholds is None:
        return 0.5
    if isinstance(thresholds, Mapping):
        unknown = sorted(set(thresholds) - set(label_space.aus))
        if unknown:
            raise ValueError(f"au_thresholds: AUs {unknown} are not in the run's {label_space.aus}")
        return np.array([float(thresholds.get(au, 0.5)) for au in label_space.aus])
    if isinstance(thresholds, int | float):
        return float(thresholds)
    th = _numpy(thresholds, "au_thresholds").astype(np.float64)
    if th.shape != (label_space.num_aus,):
        raise ValueError(f"au_thresholds: expected [{label_space.num_aus}], got shape {th.shape}")
    return th


def _va_metrics(p: Predictions, rows: np.ndarray) -> dict[str, Any] | None:
    valid = rows & p["va_mask"]
    if not valid.any():
        return None
    pred, target = p["va_pred"][valid], p["va"][valid]
    c = ccc(pred, target)
    r = pearson(pred, target)
    e = rmse(pred, target)
    # How much the labels vary (population SD, like CCC's moments): a split whose labels barely
    # vary, or that has few videos, cannot measure CCC well.
    sd = target.std(axis=0)
    out = {
        "n": int(valid.sum()),
        "ccc_v": c[0],
        "ccc_a": c[1],
        "ccc_mean": float(np.mean(c)),
        "pearson_v": r[0],
        "pearson_a": r[1],
        "rmse_v": e[0],
        "rmse_a": e[1],
        "label_sd_v": sd[0],
        "label_sd_a": sd[1],
    }
    if "video" in p:
        # (dataset, video): two datasets may name a video alike; stills ("") are no video.
        pairs = {(d, v) for d, v in zip(p["dataset"][valid], p["video"][valid], strict=True) if v}
        if pairs:
            out["videos"] = len(pairs)
    return out


def _class_metrics(
    p: Predictions, rows: np.ndarray, task: str, names: Sequence[str]
) -> dict[str, Any] | None:
    valid = rows & p[f"{task}_mask"]
    if not valid.any():
        return None
    k = len(names)
    prob, target = p[f"{task}_prob"][valid], p[task][valid]
    if prob.shape[1] != k:
        raise ValueError(
            f"{task}: the head has {prob.shape[1]} classes, the label space {k} ({list(names)})"
        )
    pred = prob.argmax(axis=1)
    f1 = f1_macro(pred, target, k)
    acc = accuracy(pred, target)
    return {
        "n": int(valid.sum()),
        "f1": f1,
        "accuracy": acc,
        "diag": confusion_diag(pred, target, k),
        "uar": uar(pred, target, k),
        "e_total": e_total(f1, acc),
        "afa": afa(f1, acc),
        "per_class_f1": dict(zip(names, f1_per_class(pred, target, k), strict=True)),
        "confusion_matrix": confusion_matrix(pred, target, k),
    }


def _au_metrics(
    p: Predictions, rows: np.ndarray, label_space: LabelSpace, threshold: float | np.ndarray
) -> dict[str, Any] | None:
    mask = p["au_mask"][rows]
    if not mask.any():
        return None
    prob = p["au_prob"][rows]
    if prob.shape[1] != label_space.num_aus:
        raise ValueError(
            f"au: the head has {prob.shape[1]} AUs, the label space {label_space.num_aus}"
        )
    scores = au_scores(prob, p["au"][rows], mask, threshold)
    labelled = mask.any(axis=0)
    positives = ((p["au"][rows] > 0.5) & mask).sum(axis=0)
    return {
        "n": int(mask.any(axis=1).sum()),
        "mean_f1": scores["mean_f1"],
        "accuracy": scores["accuracy"],
        "afa": scores["afa"],
        # Only the AUs this dataset labels; the others are not evaluated (masked).
        "per_au_f1": {
            f"AU{au}": scores["per_au_f1"][j] for j, au in enumerate(label_space.aus) if labelled[j]
        },
        # How many labelled samples show each AU: the F1 of an AU with a handful is noise.
        "per_au_positives": {
            f"AU{au}": int(positives[j]) for j, au in enumerate(label_space.aus) if labelled[j]
        },
    }


def compute_metrics(
    predictions: Predictions,
    label_space: LabelSpace,
    *,
    au_thresholds: float | ArrayLike | Mapping[int, float] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per dataset × task metrics, the way FaceBehaviorNet's Table VI reports them.

    Args:
        predictions: the accumulated outputs and labels.
        label_space: the run's vocabularies (class names and AU numbers, head sizes).
        au_thresholds: AU decision thresholds: None (0.5), one float, an array ``[A]`` in the
            label space's AU order, or ``{FACS number: threshold}`` (others 0.5). Choose them on a
            validation split with :func:`holistic.metrics.choose_au_thresholds`, never on the
            split you report.

    Returns:
        ``{dataset: {task: {metric: value}}}`` for each dataset in order of appearance, then
        ``"all"`` pooling every sample. Tasks: ``va`` (``ccc_v``, ``ccc_a``, ``ccc_mean``,
        ``pearson_v/a``, ``rmse_v/a``, the labels' standard deviation ``label_sd_v/a`` and,
        when the predictions hold video ids, ``videos``: how many videos the samples come
        from), ``expr`` and ``compound`` (``f1`` over the fixed class list, ``accuracy``,
        ``diag``, ``uar``, ``e_total``, ``afa``, ``per_class_f1``, ``confusion_matrix``),
        ``au`` (``mean_f1``, ``accuracy``, ``afa``, ``per_au_f1`` keyed ``"AU12"`` over the AUs
        labelled in that dataset, ``per_au_positives``). Each task has ``n``, its number of
        labelled samples. A task appears only where labels exist. JSON-serialisable: NaN → None.

    Raises:
        ValueError: no predictions, or heads sized differently from the label space.
    """
    if len(predictions) == 0:
        raise ValueError("predictions: nothing to evaluate (no batch was added)")
    threshold = _au_threshold(au_thresholds, label_space)
    names = predictions["dataset"]
    if ALL in predictions.datasets:
        raise ValueError(f"datasets: {ALL!r} is reserved for the pooled pseudo-dataset")
    groups = [(d, names == d) for d in predictions.datasets]
    groups.append((ALL, np.ones(names.shape[0], dtype=bool)))
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset, rows in groups:
        tasks: dict[str, dict[str, Any] | None] = {}
        if "va" in predictions.tasks:
            tasks["va"] = _va_metrics(predictions, rows)
        if "expr" in predictions.tasks:
            tasks["expr"] = _class_metrics(predictions, rows, "expr", label_space.expressions)
        if "au" in predictions.tasks:
            tasks["au"] = _au_metrics(predictions, rows, label_space, threshold)
        if "compound" in predictions.tasks:
            tasks["compound"] = _class_metrics(predictions, rows, "compound", label_space.compounds)
        result[dataset] = to_jsonable({k: v for k, v in tasks.items() if v is not None})
    return result
