"""ABAW challenge scores: hand-computed values per edition, MTL sum, validation of inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from holistic.metrics import EDITION_ALIASES, EDITIONS, abaw_score, resolve_edition

# VA: valence predicted exactly (CCC 1); arousal [1, 2, 3] vs [2, 4, 6] (CCC 4/11).
VA = (
    np.array([[0.1, 1.0], [0.2, 2.0], [0.3, 3.0]]),
    np.array([[0.1, 2.0], [0.2, 4.0], [0.3, 6.0]]),
)
VA_SCORE = (1 + 4 / 11) / 2

# EXPR: the metrics.md golden example, plus two unlabelled (-1) frames that must not count.
EXPR = ([0, 1, 1, 1, 2, 0, 5, 6], [0, 0, 1, 1, 2, 2, -1, -1])
F1_SUM = 0.5 + 0.8 + 2 / 3  # per-class F1 of classes 0, 1, 2; every other class scores 0
EXPR_ABAW12 = 0.67 * F1_SUM / 7 + 0.33 * 4 / 6
EXPR_ABAW3 = F1_SUM / 8


def _au(num_aus: int) -> tuple[np.ndarray, np.ndarray]:
    """Every AU: decisions [1, 1, 0, 0] vs labels [1, 0, 0, 0] -> F1 2/3, accuracy 3/4."""
    pred = np.tile([[0.9], [0.6], [0.1], [0.1]], (1, num_aus))
    target = np.tile([[1], [0], [0], [0]], (1, num_aus))
    return pred, target


AU_AFA = 0.5 * 2 / 3 + 0.5 * 3 / 4


@pytest.mark.parametrize(
    ("edition", "num_aus", "expr", "au"),
    [
        ("abaw1", 8, EXPR_ABAW12, AU_AFA),
        ("2021", 12, EXPR_ABAW12, AU_AFA),
        *[(f"abaw{i}", 12, EXPR_ABAW3, 2 / 3) for i in range(3, 9)],
    ],
)
def test_hand_computed_scores_per_edition(
    edition: str, num_aus: int, expr: float, au: float
) -> None:
    scores = abaw_score(edition, va=VA, expr=EXPR, au=_au(num_aus))
    assert scores["va"] == pytest.approx(VA_SCORE)
    assert scores["expr"] == pytest.approx(expr)
    assert scores["au"] == pytest.approx(au)
    if resolve_edition(edition).mtl:
        assert set(scores) == {"va", "expr", "au", "mtl"}
        assert scores["mtl"] == pytest.approx(VA_SCORE + EXPR_ABAW3 + 2 / 3)
        assert scores["mtl"] == scores["va"] + scores["expr"] + scores["au"]
    else:
        assert set(scores) == {"va", "expr", "au"}


def test_only_given_tasks_are_scored_and_mtl_needs_all_three() -> None:
    assert abaw_score("abaw3", va=VA) == {"va": pytest.approx(VA_SCORE)}
    assert set(abaw_score("abaw4", expr=EXPR, au=_au(12))) == {"expr", "au"}
    with pytest.raises(ValueError, match="at least one"):
        abaw_score("abaw3")


def test_masks_in_task_tuples() -> None:
    pred, target = _au(12)
    wrong = np.vstack([pred, np.zeros((2, 12))])
    with_junk = np.vstack([target, np.ones((2, 12))])  # two frames that the mask removes
    masked = abaw_score("abaw3", au=(wrong, with_junk, [True] * 4 + [False] * 2))
    assert masked["au"] == pytest.approx(abaw_score("abaw3", au=(pred, target))["au"])
    va_pred = np.vstack([VA[0], [[0.9, 0.9]]])
    va_target = np.vstack([VA[1], [[np.nan, np.nan]]])  # an unlabelled VA frame
    assert abaw_score("abaw1", va=(va_pred, va_target))["va"] == pytest.approx(VA_SCORE)


def test_wrong_au_count_raises() -> None:
    with pytest.raises(ValueError, match=r"abaw1 scores 8 AUs.*got \(4, 12\)"):
        abaw_score("abaw1", au=_au(12))
    with pytest.raises(ValueError, match=r"abaw3 scores 12 AUs.*got \(4, 8\)"):
        abaw_score("abaw3", au=_au(8))


def test_expr_class_list_is_enforced() -> None:
    # Class 7 ("other") exists from ABAW3 on, not in the 7-class ABAW1/2 list.
    assert np.isfinite(abaw_score("abaw3", expr=([7, 0], [7, 0]))["expr"])
    with pytest.raises(ValueError, match="num_classes=7"):
        abaw_score("abaw2", expr=([7, 0], [7, 0]))
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        abaw_score("abaw3", va=([0.1, 0.2], [0.1, 0.2]))
    with pytest.raises(TypeError, match="tuple"):
        abaw_score("abaw3", va=VA[0])


def test_edition_aliases() -> None:
    for alias in ("2020", "ABAW1", " abaw1 "):
        assert resolve_edition(alias) is EDITIONS["abaw1"]
    assert resolve_edition("2022").name == "abaw3"
    assert set(EDITION_ALIASES.values()) == set(EDITIONS)
    with pytest.raises(ValueError, match="abaw1, abaw2.*2020"):
        resolve_edition("abaw9")


def test_edition_table() -> None:
    assert [EDITIONS[f"abaw{i}"].num_aus for i in range(1, 9)] == [8] + [12] * 7
    assert [EDITIONS[f"abaw{i}"].num_expr_classes for i in range(1, 9)] == [7, 7] + [8] * 6
    assert [name for name, ed in EDITIONS.items() if ed.mtl_track] == ["abaw3", "abaw4", "abaw7"]
    for name, ed in EDITIONS.items():
        assert ed.name == name
        assert (
            ed.mtl == (ed.expr_metric == "f1") == (ed.au_metric == "f1") == ("mtl" in ed.formulas)
        )


def test_torch_and_numpy_inputs_agree() -> None:
    pred, target = _au(12)
    as_torch = abaw_score(
        "abaw3",
        va=tuple(torch.tensor(x) for x in VA),
        expr=tuple(torch.tensor(x) for x in EXPR),
        au=(torch.tensor(pred), torch.tensor(target)),
    )
    assert as_torch == abaw_score("abaw3", va=VA, expr=EXPR, au=(pred, target))


def test_metrics_import_neither_torch_nor_sklearn() -> None:
    code = (
        "import sys, holistic.metrics; "
        "bad = [m for m in ('torch', 'sklearn', 'holistic.models', 'holistic.data') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
