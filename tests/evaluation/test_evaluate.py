"""Predictions accumulation and per dataset × task metrics (Table VI conventions)."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from holistic.evaluation import Predictions, compute_metrics, to_jsonable
from holistic.schema import LabelSpace

SPACE = LabelSpace()  # basic7 × fbn17
E, A = SPACE.num_expressions, SPACE.num_aus
# reference/metrics.md §2.2 golden example (classes 0..2 of a 7-class run).
GOLD_TRUE = [0, 0, 1, 1, 2, 2]
GOLD_PRED = [0, 1, 1, 1, 2, 0]


def _logits(classes, k):
    out = np.full((len(classes), k), -3.0)
    out[np.arange(len(classes)), classes] = 3.0
    return out


def _batch():
    """Three datasets: 'affwild' (VA), 'rafdb' (expressions), 'disfa' (AU1 and AU2 only)."""
    records, datasets = [], []
    va_true = np.array([[0.1, 0.2], [-0.5, 0.4], [0.3, -0.6], [0.9, 0.0]])
    for v in va_true:
        records.append({"va": v.tolist()})
        datasets.append("affwild")
    for c in GOLD_TRUE:
        records.append({"expr": SPACE.expressions[c]})
        datasets.append("rafdb")
    au_true = [(1, 0), (1, 1), (0, 0), (0, 1)]
    for a1, a2 in au_true:
        records.append({"au": {"1": a1, "2": a2}})
        datasets.append("disfa")
    labels = SPACE.project_batch(records)
    n = len(records)
    va = np.zeros((n, 2))
    va[:4] = va_true  # perfect VA predictions
    expr = np.zeros((n, E))
    expr[4:10] = _logits(GOLD_PRED, E)
    au = np.full((n, A), -4.0)
    # AU1 predicted (1, 0, 1, 0) vs true (1, 1, 0, 0): F1 = 0.5. AU2 predicted = true: F1 = 1.
    au[10:, 0] = [4.0, -4.0, 4.0, -4.0]
    au[10:, 1] = [-4.0, 4.0, -4.0, 4.0]
    outputs = {"va": torch.tensor(va), "expr": torch.tensor(expr), "au": torch.tensor(au)}
    return labels, outputs, datasets


def _predictions():
    p = Predictions()
    p.add(*_batch())
    return p


def test_metrics_per_dataset_and_task():
    m = compute_metrics(_predictions(), SPACE)
    assert list(m) == ["affwild", "rafdb", "disfa", "all"]
    # Only tasks with labels appear.
    assert set(m["affwild"]) == {"va"}
    assert set(m["rafdb"]) == {"expr"}
    assert set(m["disfa"]) == {"au"}
    assert set(m["all"]) == {"va", "expr", "au"}

    va = m["affwild"]["va"]
    assert va["n"] == 4
    assert [va["ccc_v"], va["ccc_a"], va["ccc_mean"]] == pytest.approx([1.0, 1.0, 1.0])
    assert va["rmse_v"] == pytest.approx(0.0, abs=1e-7)
    # How much the labels vary, population SD as CCC uses: valence 0.1, -0.5, 0.3, 0.9
    # (mean 0.2, squared deviations 0.01 + 0.49 + 0.01 + 0.49 = 1.0 over 4).
    assert va["label_sd_v"] == pytest.approx(0.5)
    assert va["label_sd_a"] == pytest.approx(np.std([0.2, 0.4, -0.6, 0.0]))
    assert "videos" not in va  # no video ids were given

    expr = m["rafdb"]["expr"]
    fixed = (0.5 + 0.8 + 2 / 3) / 7  # the fixed 7-class list: 4 absent classes count 0
    assert expr["f1"] == pytest.approx(fixed)
    assert expr["f1"] == pytest.approx(
        f1_score(GOLD_TRUE, GOLD_PRED, labels=list(range(7)), average="macro", zero_division=0)
    )
    assert expr["accuracy"] == pytest.approx(accuracy_score(GOLD_TRUE, GOLD_PRED))
    assert expr["uar"] == pytest.approx(balanced_accuracy_score(GOLD_TRUE, GOLD_PRED))
    assert expr["diag"] == pytest.approx(2 / 3)
    assert expr["e_total"] == pytest.approx(0.67 * fixed + 0.33 * 4 / 6)
    assert expr["afa"] == pytest.approx(0.5 * fixed + 0.5 * 4 / 6)
    assert expr["per_class_f1"]["anger"] == pytest.approx(0.8)
    assert np.array(expr["confusion_matrix"]).shape == (7, 7)
    assert np.array(expr["confusion_matrix"]).sum() == 6

    au = m["disfa"]["au"]
    assert au["per_au_f1"] == pytest.approx({"AU1": 0.5, "AU2": 1.0})  # only labelled AUs
    assert au["per_au_positives"] == {"AU1": 2, "AU2": 2}  # the support of each F1
    assert au["mean_f1"] == pytest.approx(0.75)
    assert au["accuracy"] == pytest.approx(6 / 8)
    assert au["afa"] == pytest.approx(0.5 * 0.75 + 0.5 * 0.75)
    assert au["n"] == 4


def test_all_pools_samples_across_datasets():
    labels, outputs, datasets = _batch()
    # Relabel half of the expression samples as another dataset: 'all' must pool them again.
    datasets = [("ferplus" if i in (4, 6, 8) else d) for i, d in enumerate(datasets)]
    p = Predictions()
    p.add(labels, outputs, datasets)
    m = compute_metrics(p, SPACE)
    assert m["ferplus"]["expr"]["n"] + m["rafdb"]["expr"]["n"] == m["all"]["expr"]["n"] == 6
    assert m["all"]["expr"]["accuracy"] == pytest.approx(4 / 6)  # pooled, not a mean of means
    assert m["all"]["va"] == m["affwild"]["va"]


def test_batches_merge_and_state_give_the_same_metrics():
    labels, outputs, datasets = _batch()
    whole = compute_metrics(_predictions(), SPACE)
    halves = []
    for part in (slice(0, 7), slice(7, None)):
        h = Predictions()
        h.add(
            {k: v[part] for k, v in labels.items()},
            {k: v[part] for k, v in outputs.items()},
            datasets[part],
        )
        halves.append(h)
    two_batches = Predictions()
    for h in halves:
        two_batches.merge(Predictions.from_state(h.state()))
    assert len(two_batches) == len(datasets)
    assert compute_metrics(two_batches, SPACE) == whole
    # Gathered states from several processes, concatenated key by key.
    states = [h.state() for h in halves]
    gathered = {k: np.concatenate([s[k] for s in states]) for k in states[0]}
    assert compute_metrics(Predictions.from_state(gathered), SPACE) == whole
    assert all(isinstance(v, np.ndarray) for v in states[0].values())


def test_va_metrics_count_the_videos_when_given():
    """Two datasets may name a video alike: videos are counted per (dataset, video); stills (None
    or "") are no video; the ids survive state(), from_state() and merge()."""
    labels, outputs, datasets = _batch()
    datasets[2:4] = ["other", "other"]
    videos = ["v1", "v1", "v1", None] + ["r"] * 10  # affwild: v1, v1; other: v1, a still
    p = Predictions()
    p.add(labels, outputs, datasets, videos=videos)
    m = compute_metrics(p, SPACE)
    assert m["affwild"]["va"]["videos"] == 1
    assert m["other"]["va"]["videos"] == 1  # the still is not a video
    assert m["all"]["va"]["videos"] == 2  # affwild/v1 and other/v1
    assert m["rafdb"]["expr"]["n"] == 6  # other tasks are unchanged
    halves = [Predictions(), Predictions()]
    for h, part in zip(halves, (slice(0, 3), slice(3, None)), strict=True):
        h.add(
            {k: v[part] for k, v in labels.items()},
            {k: v[part] for k, v in outputs.items()},
            datasets[part],
            videos=videos[part],
        )
    merged = Predictions.from_state(halves[0].state()).merge(halves[1])
    assert "video" in merged and compute_metrics(merged, SPACE) == m
    stills = Predictions()
    stills.add(labels, outputs, datasets, videos=[""] * len(datasets))
    assert "videos" not in compute_metrics(stills, SPACE)["affwild"]["va"]
    with pytest.raises(ValueError, match="one video id per sample"):
        Predictions().add(labels, outputs, datasets, videos=videos[:-1])
    with pytest.raises(ValueError, match="every batch or with none"):
        p.add(labels, outputs, datasets)
    without = Predictions()
    without.add(labels, outputs, datasets)
    with pytest.raises(ValueError, match="every batch or with none"):
        without.add(labels, outputs, datasets, videos=videos)


def test_json_serialisable_with_nan_as_none():
    m = compute_metrics(_predictions(), SPACE)
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text) == m
    assert to_jsonable({"a": np.float32(np.nan), "b": np.arange(2), "c": (np.int64(3),)}) == {
        "a": None,
        "b": [0, 1],
        "c": [3],
    }


def test_au_thresholds_float_array_and_mapping():
    p = _predictions()
    # sigmoid(4) = 0.982: a threshold of 0.99 switches every AU decision off.
    high = compute_metrics(p, SPACE, au_thresholds=0.99)["disfa"]["au"]
    assert high["per_au_f1"] == pytest.approx({"AU1": 0.0, "AU2": 0.0})
    only_au2 = compute_metrics(p, SPACE, au_thresholds={2: 0.99})["disfa"]["au"]
    assert only_au2["per_au_f1"] == pytest.approx({"AU1": 0.5, "AU2": 0.0})
    array = np.full(A, 0.5)
    array[1] = 0.99
    assert compute_metrics(p, SPACE, au_thresholds=array)["disfa"]["au"] == only_au2
    with pytest.raises(ValueError, match="not in the run"):
        compute_metrics(p, SPACE, au_thresholds={3: 0.5})
    with pytest.raises(ValueError, match="au_thresholds"):
        compute_metrics(p, SPACE, au_thresholds=np.full(A - 1, 0.5))


def test_single_head_and_compound_head():
    space = LabelSpace(compounds="rafdb11")
    records = [{"compound": c} for c in space.compounds] + [{"expr": "anger"}]
    labels = space.project_batch(records)
    n = len(records)
    pred = list(range(11))
    pred[0] = 1
    outputs = {"compound": _logits([*pred, 0], 11)}  # a compound-only (fine-tuned) head
    p = Predictions()
    p.add(labels, outputs, ["rafdb_compound"] * n)
    m = compute_metrics(p, space)
    assert set(m["rafdb_compound"]) == {"compound"}  # expr labels but no expr head: skipped
    c = m["rafdb_compound"]["compound"]
    assert c["n"] == 11
    assert c["accuracy"] == pytest.approx(10 / 11)
    assert c["diag"] == pytest.approx(10 / 11)
    assert set(c["per_class_f1"]) == set(space.compounds)


def test_bad_input_raises():
    labels, outputs, datasets = _batch()
    p = Predictions()
    with pytest.raises(ValueError, match="nothing to evaluate"):
        compute_metrics(p, SPACE)
    with pytest.raises(ValueError, match=r"outputs\['expr'\]"):
        p.add(labels, {**outputs, "expr": outputs["expr"][:3]}, datasets)
    with pytest.raises(ValueError, match="va"):
        p.add(labels, {**outputs, "va": outputs["va"][:, :1]}, datasets)
    with pytest.raises(ValueError, match="one name per sample"):
        p.add(labels, outputs, datasets[:-1])
    with pytest.raises(ValueError, match="rows like datasets"):
        p.add({**labels, "va": labels["va"][:-1]}, outputs, datasets)
    with pytest.raises(ValueError, match="expected 'au_mask'"):
        p.add({k: v for k, v in labels.items() if k != "au_mask"}, outputs, datasets)
    p.add(labels, outputs, datasets)
    with pytest.raises(ValueError, match="heads"):
        p.add(labels, {"va": outputs["va"]}, datasets)
    with pytest.raises(ValueError, match="the label space"):
        compute_metrics(p, LabelSpace(expressions="abaw8"))
    reserved = Predictions()
    reserved.add(labels, outputs, ["all"] * len(datasets))
    with pytest.raises(ValueError, match="reserved"):
        compute_metrics(reserved, SPACE)


def test_eval_splits_take_each_dataset_on_its_first_preferred_split():
    from holistic.evaluation.run import eval_splits

    manifest = {
        "datasets": {
            "affwild2": {"splits": {"train": {}, "validation": {}}},
            "rafdb": {"splits": {"train": {}, "test": {}}},
            "expw": {"splits": {"train": {}}},
        }
    }
    assert eval_splits(manifest, "validation") == {"validation": ["affwild2"]}
    assert eval_splits(manifest, ["validation", "test"]) == {
        "validation": ["affwild2"],
        "test": ["rafdb"],
    }
    assert eval_splits(manifest, ["test", "validation"], datasets=["affwild2"]) == {
        "validation": ["affwild2"]
    }


def test_trivial_predictions_give_the_chance_levels():
    from holistic.evaluation.evaluate import trivial_predictions

    space = LabelSpace(expressions=["neutral", "happiness", "sadness"], aus=[1, 12])
    p = Predictions()
    labels = {
        "va": np.array([[0.5, 0.1], [-0.2, 0.3], [0.1, -0.4], [0.0, 0.2]]),
        "va_mask": np.ones(4, bool),
        "expr": np.array([1, 1, 2, 0]),
        "expr_mask": np.ones(4, bool),
        "au": np.array([[1, 0], [1, 1], [0, 0], [1, 0]]),
        "au_mask": np.ones((4, 2), bool),
    }
    outputs = {"va": np.full((4, 2), 0.3), "expr": np.eye(3)[[0, 1, 2, 0]], "au": np.zeros((4, 2))}
    p.add(labels, outputs, ["a"] * 4)
    trivial = compute_metrics(trivial_predictions(p), space)["a"]
    assert trivial["va"]["ccc_v"] == 0.0 and trivial["expr"]["uar"] == pytest.approx(1 / 3)
    assert trivial["expr"]["accuracy"] == 0.5  # the majority class, happiness, is 2 of 4
    # Every AU present: F1 = 2p / (1 + p) with p = 3/4 for AU1 and 1/4 for AU12.
    assert trivial["au"]["per_au_f1"] == pytest.approx({"AU1": 6 / 7, "AU12": 0.4})
