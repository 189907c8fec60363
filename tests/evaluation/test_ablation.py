"""Ablation summaries: mean ± sd over seeds, differences to a baseline, the bar chart; over label
budgets, the table, the verdict sentences and the line plot; the AU positives note."""

import math
import platform

import pytest

from holistic.evaluation.ablation import (
    CHANCE,
    Claim,
    Column,
    ablation_bars,
    budget_claim_reading,
    budget_lines,
    budget_reading,
    budget_table,
    budget_verdict,
    chance_row,
    check_claims,
    claim_reading,
    claim_verdict,
    column_values,
    compare,
    difference,
    fewest_positives,
    format_difference,
    format_mean_sd,
    gate_shift_verdict,
    lookup,
    mean_sd,
    optimum_verdict,
    positives_note,
    reading,
    stopping_line,
    summary_table,
    training_time_line,
)

F1 = Column("bp4d", "au", "mean_f1", "BP4D AU F1")
ZS = Column("rafdb-compound", "zeroshot", "uar", "RAF UAR")


def _run(f1=None, uar=None):
    document = {"metrics": {"bp4d": {"au": {"mean_f1": f1}}} if f1 is not None else {}}
    if uar is not None:
        document["zeroshot"] = {"rafdb-compound": {"uar": uar}}
    return document


def test_lookup_reads_metrics_and_zeroshot_and_skips_the_undefined():
    assert lookup(_run(0.5, 0.2), F1) == 0.5 and lookup(_run(0.5, 0.2), ZS) == 0.2
    assert lookup(_run(), F1) is None and lookup(_run(float("nan")), F1) is None
    assert column_values([_run(0.1), _run(), _run(0.3)], F1) == [0.1, 0.3]


def test_mean_and_sample_sd():
    assert mean_sd([0.30, 0.34, 0.32]) == pytest.approx((0.32, 0.02, 3))
    mean, sd, n = mean_sd([0.4])
    assert (mean, n) == (0.4, 1) and math.isnan(sd)
    assert format_mean_sd([0.30, 0.34, 0.32]) == "0.320 ± 0.020"
    assert format_mean_sd([0.4]) == "0.400" and format_mean_sd([]) == "–"


def test_differences_flag_more_than_two_welch_standard_errors():
    delta, se = difference([0.36, 0.38, 0.40], [0.30, 0.32, 0.34])
    assert delta == pytest.approx(0.06) and se == pytest.approx(math.sqrt(2 * 0.02**2 / 3))
    assert format_difference([0.36, 0.38, 0.40], [0.30, 0.32, 0.34]) == "**+0.060**"
    assert format_difference([0.30, 0.40, 0.35], [0.30, 0.32, 0.34]) == "+0.030"  # within noise
    assert format_difference([], [0.3, 0.4]) == "–"


def test_summary_table_rows_columns_and_baseline():
    rows = {"none": [_run(0.30, 0.1), _run(0.34, 0.1)], "coupled": [_run(0.40, 0.2), _run(0.42)]}
    table = summary_table(rows, [F1, ZS]).splitlines()
    assert table[0] == "| Model | BP4D AU F1 | RAF UAR |"
    assert table[2] == "| none | 0.320 ± 0.028 | 0.100 ± 0.000 |"
    assert table[3] == "| coupled | 0.410 ± 0.014 | 0.200 |"
    differences = summary_table(rows, [F1], baseline="none").splitlines()
    assert len(differences) == 3 and differences[2].startswith("| coupled | ")  # no baseline row


def test_bars_write_a_png(tmp_path):
    rows = {"none": [_run(0.30, 0.1), _run(0.34, 0.12)], "coupled": [_run(0.40, 0.2)]}
    path = ablation_bars(rows, [F1, ZS], tmp_path / "a.png", reference={"RAF UAR": 1 / 11})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="at least one row"):
        ablation_bars({}, [F1], tmp_path / "b.png")


def test_compare_sorts_columns_into_better_worse_and_within_noise():
    other = Column("bp4d", "au", "accuracy", "BP4D Acc.")

    def run(f1, acc):
        return {"metrics": {"bp4d": {"au": {"mean_f1": f1, "accuracy": acc}}}}

    rows = {
        "base": [run(0.30, 0.80), run(0.32, 0.82), run(0.34, 0.84)],
        "new": [run(0.36, 0.70), run(0.38, 0.72), run(0.40, 0.74)],
        "same": [run(0.31, 0.81), run(0.33, 0.83), run(0.35, 0.83)],
    }
    verdicts = compare(rows, [F1, other, ZS], "base")  # ZS has no values: left out
    assert verdicts["new"] == {"better": ["BP4D AU F1"], "worse": ["BP4D Acc."], "within": []}
    assert verdicts["same"] == {"better": [], "worse": [], "within": ["BP4D AU F1", "BP4D Acc."]}
    assert "base" not in verdicts


# Error columns (RMSE): lower reads as better; the papers' claims read on the rows.
RMSE = Column("afewva", "native", "rmse_v", "RMSE-V", higher_is_better=False)


def _rmse_run(f1, rmse):
    return {**_run(f1), "native_scale": {"afewva": {"rmse_v": rmse}}}


def _claim_rows():
    return {
        "base": [_rmse_run(0.30, 3.0), _rmse_run(0.32, 3.1), _rmse_run(0.34, 3.2)],
        "lower error": [_rmse_run(0.31, 2.0), _rmse_run(0.33, 2.1), _rmse_run(0.35, 2.2)],
        "better": [_rmse_run(0.40, 2.0), _rmse_run(0.42, 2.1), _rmse_run(0.44, 2.2)],
        "worse": [_rmse_run(0.20, 4.0), _rmse_run(0.22, 4.1), _rmse_run(0.24, 4.2)],
        "mixed": [_rmse_run(0.40, 4.0), _rmse_run(0.42, 4.1), _rmse_run(0.44, 4.2)],
    }


def test_an_error_column_reads_lower_as_better():
    rows = _claim_rows()
    assert compare(rows, [F1, RMSE], "base")["lower error"] == {
        "better": ["RMSE-V"], "worse": [], "within": ["BP4D AU F1"]
    }  # fmt: skip
    lines = reading(rows, [F1, RMSE], "base")
    assert lines[0] == "Read against **base** (lower is better in RMSE-V, higher in the others):"
    assert "- worse: worse in BP4D AU F1, RMSE-V; within two standard errors in 0 of 2 " \
        "columns." in lines  # fmt: skip


@pytest.mark.parametrize(
    "better, than, columns, verdict",
    [
        ("better", "base", [], "holds in every column"),
        ("lower error", "base", [],
         "holds in 1 of 2 columns (RMSE-V), the others within two standard errors"),
        ("worse", "base", [], "does not hold: worse in BP4D AU F1, RMSE-V"),
        ("mixed", "base", [], "mixed: better in BP4D AU F1; worse in RMSE-V"),
        ("lower error", "base", ["BP4D AU F1"],
         "not shown: every difference within two standard errors"),
    ],
)  # fmt: skip
def test_claim_verdict_says_whether_one_row_beats_another(better, than, columns, verdict):
    claim = Claim("it helps", better=better, than=than, columns=columns)
    assert claim_verdict(_claim_rows(), [F1, RMSE], claim) == verdict


@pytest.mark.parametrize(
    "shifts, corrupted, verdict",
    [  # mean -0.05, sd 0.01, se 0.0058: beyond; mean 0.01, sd 0.03, se 0.017: within
        ([-0.04, -0.05, -0.06], "video",
         "the face gate moves toward the intact audio, beyond two standard errors "
         "(shift -0.050 ± 0.010 over 3 seeds)"),
        ([-0.04, -0.05, -0.06], "audio",
         "the face gate moves toward the corrupted audio, beyond two standard errors "
         "(shift -0.050 ± 0.010 over 3 seeds)"),
        ([0.01, -0.02, 0.04], "audio",
         "the face gate does not move beyond two standard errors "
         "(shift +0.010 ± 0.030 over 3 seeds, toward the intact face)"),
        ([0.01, -0.02, 0.04], "video",
         "the face gate does not move beyond two standard errors "
         "(shift +0.010 ± 0.030 over 3 seeds, toward the corrupted face)"),
        ([0.0, 0.0], "video",
         "the face gate does not move beyond two standard errors (shift +0.000 ± 0.000 over 2 seeds, "
         "no direction)"),
        ([0.2], "audio", "no spread to screen (shift +0.200 over 1 seed, toward the intact face)"),
        ([], "audio", "no gate shift to read"),
    ],
)  # fmt: skip
def test_gate_shift_verdict_reads_the_direction_against_two_standard_errors(
    shifts, corrupted, verdict
):
    assert gate_shift_verdict(shifts, corrupted) == verdict


def test_gate_shift_verdict_refuses_an_unknown_modality():
    with pytest.raises(ValueError, match="corrupted must be 'video' or 'audio', got 'face'"):
        gate_shift_verdict([0.1, 0.2], "face")


def test_claim_verdict_names_columns_without_values_on_both_sides():
    rows = {**_claim_rows(), "f1 only": [_run(0.40), _run(0.42), _run(0.44)]}
    verdict = claim_verdict(rows, [F1, RMSE], Claim("x", better="f1 only", than="base"))
    assert verdict == "holds in every column (1 column(s) without values on both sides)"


def test_optimum_verdict_names_the_best_row_per_column_and_its_noise():
    claim = Claim("n = 8 is best", best_of=["base", "better", "mixed"], expected="better")
    verdict = optimum_verdict(_claim_rows(), [F1, RMSE], claim)
    # F1: better and mixed have the same means (a tie, within noise); RMSE: better is lowest.
    assert verdict.startswith("better is best in 2 of 2 columns. Best per column: ")
    assert "BP4D AU F1: better (within noise of mixed)" in verdict
    assert "RMSE-V: better" in verdict and "RMSE-V: better (" not in verdict
    claim = Claim("base is best", best_of=["base", "worse"], expected="base")
    assert optimum_verdict(_claim_rows(), [F1, RMSE], claim).startswith(
        "base is best in 2 of 2 columns"
    )


def test_claim_reading_lists_every_claim_and_refuses_bad_claims():
    claims = [
        Claim("B beats A", better="better", than="base"),
        Claim("missing rows", better="nowhere", than="base"),
    ]
    lines = claim_reading(_claim_rows(), [F1, RMSE], claims)
    assert "- *B beats A*: holds in every column." in lines
    assert "- *missing rows*: not checked: no rows ['nowhere']." in lines
    with pytest.raises(ValueError, match="either better and than"):
        Claim("both kinds", better="a", than="b", best_of=["a", "b"], expected="a")
    with pytest.raises(ValueError, match="expected among them"):
        Claim("expected outside", best_of=["a", "b"], expected="c")
    with pytest.raises(ValueError, match="unknown column header"):
        claim_verdict(_claim_rows(), [F1], Claim("x", better="better", than="base",
                                                 columns=["nope"]))  # fmt: skip


# Over label budgets: {budget: {variant: [run per seed]}}, budgets placed by their fraction.
FRACTIONS = {"1 %": 0.01, "10 %": 0.1, "100 %": 1.0}
HIGHER = [0.36, 0.38, 0.40]  # against BASE: +0.06 with a standard error of 0.016
BASE = [0.30, 0.32, 0.34]
WITHIN = [0.30, 0.40, 0.35]  # +0.03 with a standard error of 0.03
LOWER = [0.24, 0.26, 0.28]


def _budgets(per_budget):
    """``{budget: f1s of "coupled"}`` -> budgets whose baseline "none" has BASE everywhere."""
    return {
        budget: {"none": [_run(f1) for f1 in BASE], "coupled": [_run(f1) for f1 in f1s]}
        for budget, f1s in per_budget.items()
    }


@pytest.mark.parametrize(
    "per_budget, verdict",
    [
        ({"1 %": HIGHER, "10 %": HIGHER, "100 %": HIGHER}, "holds at every budget"),
        ({"1 %": WITHIN, "10 %": WITHIN, "100 %": WITHIN}, "does not hold at any budget"),
        ({"1 %": HIGHER, "10 %": HIGHER, "100 %": WITHIN}, "holds only at budgets ≤ 10 %"),
        ({"1 %": HIGHER, "10 %": WITHIN, "100 %": WITHIN}, "holds only at budgets ≤ 1 %"),
        ({"1 %": WITHIN, "10 %": HIGHER, "100 %": WITHIN}, "mixed (holds at 10 %)"),
        ({"1 %": WITHIN, "10 %": WITHIN, "100 %": HIGHER}, "mixed (holds at 100 %)"),
        # The order is the fractions', not the mapping's.
        ({"100 %": WITHIN, "1 %": HIGHER, "10 %": HIGHER}, "holds only at budgets ≤ 10 %"),
        ({"1 %": LOWER, "10 %": WITHIN, "100 %": WITHIN},
         "does not hold at any budget (worse at 1 %)"),
        ({"1 %": HIGHER, "10 %": HIGHER, "100 %": [0.5]},
         "holds at every budget (no difference at 100 %)"),
        ({"1 %": [0.5], "10 %": [], "100 %": [0.4]},
         "no difference to screen at any budget (fewer than two seeds with values)"),
    ],
)  # fmt: skip
def test_budget_verdict_says_where_a_variant_beats_the_baseline(per_budget, verdict):
    assert budget_verdict(_budgets(per_budget), F1, "coupled", "none", FRACTIONS) == verdict


def test_budget_claim_reading_says_where_each_claim_holds_over_the_budgets():
    # A second column whose "coupled" values are always within noise: a claim on both columns
    # holds where F1 is better (and nothing is worse), like the F1-only claim.
    budgets = _budgets({"1 %": HIGHER, "10 %": HIGHER, "100 %": LOWER})
    budgets["100 %"]["single"] = [_run(0.1), _run(0.2)]  # only at the largest budget
    claims = [
        Claim("Coupling helps", better="coupled", than="none"),
        Claim("Coupling helps zero-shot", better="coupled", than="none", columns=["RAF UAR"]),
        Claim("Multi-task beats single-task", better="none", than="single"),
        Claim("A missing variant helps", better="absent", than="none"),
    ]
    lines = budget_claim_reading(budgets, [F1, ZS], claims, FRACTIONS)
    assert lines[0].startswith("The paper's claims, read at each label budget; a claim *holds*")
    assert (
        "- *Coupling helps*: **holds only at budgets ≤ 10 %**. 1 %: holds in every column "
        "(1 column(s) without values on both sides); 10 %: holds in every column (1 column(s) "
        "without values on both sides); 100 %: does not hold: worse in BP4D AU F1 (1 column(s) "
        "without values on both sides)."
    ) in lines
    assert (
        "- *Coupling helps zero-shot*: no difference to screen at any budget. 1 %: no "
        "difference to screen (fewer than two seeds with values on either side)" in lines[3]
    )
    # Only one budget has both rows: the span names it.
    assert lines[4].startswith("- *Multi-task beats single-task*: **holds at 100 %**. 100 %: ")
    assert lines[5] == "- *A missing variant helps*: not checked: no budget has rows " \
        "['absent', 'none']."  # fmt: skip
    with pytest.raises(ValueError, match="over budgets, give better and than"):
        budget_claim_reading(budgets, [F1], [Claim("n", best_of=["a", "b"], expected="a")],
                             FRACTIONS)  # fmt: skip


def test_claims_are_checked_against_rows_and_columns_and_relabelled():
    claims = [Claim("fine", better="a", than="b", columns=["F1"])]
    check_claims(claims, ["a", "b"], ["F1"])  # nothing to refuse
    with pytest.raises(ValueError, match=r"claims\[0\] \('fine'\): no variants \['b'\]; "
                                         r"variants: \['a'\]"):  # fmt: skip
        check_claims(claims, ["a"], ["F1"], what="variants")
    with pytest.raises(ValueError, match=r"no columns \['F1'\]; columns: \['UAR'\]"):
        check_claims(claims, ["a", "b"], ["UAR"])
    optimum = Claim("n = 8", best_of=["s4", "s8"], expected="s8")
    assert optimum.rows == ["s4", "s8"] and claims[0].rows == ["a", "b"]
    relabelled = optimum.relabelled({"s4": "S-4", "s8": "S-8"})
    assert (relabelled.best_of, relabelled.expected) == (["S-4", "S-8"], "S-8")
    assert claims[0].relabelled({"a": "A", "b": "B"}).rows == ["A", "B"]


def test_budget_reading_has_a_sentence_per_variant_and_column_with_values():
    budgets = _budgets({"1 %": HIGHER, "10 %": WITHIN, "100 %": WITHIN})
    for rows in budgets.values():
        rows["single"] = [_run(uar=0.1), _run(uar=0.2)]  # no F1, no difference to screen
    lines = budget_reading(budgets, [F1, ZS], "none", FRACTIONS)
    assert "- coupled: BP4D AU F1 holds only at budgets ≤ 1 %." in lines
    assert "- single: RAF UAR no difference to screen at any budget (fewer than two seeds with " \
        "values)." in lines  # fmt: skip
    assert not any(line.startswith("- none") for line in lines)


def test_budget_table_has_a_column_per_budget_and_differences_in_brackets():
    budgets = _budgets({"1 %": HIGHER, "100 %": WITHIN})
    budgets["1 %"]["single"] = [_run(uar=0.1)]  # no value in this column, at no budget: no row
    budgets["100 %"]["late"] = [_run(0.5), _run(0.5)]  # a value at one budget: a row
    table = budget_table(budgets, F1, baseline="none").splitlines()
    assert table[0] == "| Model | 1 % | 100 % |"
    assert table[2] == "| none | 0.320 ± 0.020 | 0.320 ± 0.020 |"
    assert table[3] == "| coupled | 0.380 ± 0.020 (**+0.060**) | 0.350 ± 0.050 (+0.030) |"
    assert table[4:] == ["| late | – | 0.500 ± 0.000 (**+0.180**) |"]


def test_budget_lines_write_a_png_and_refuse_budgets_without_a_fraction(tmp_path):
    budgets = _budgets({"1 %": HIGHER, "10 %": [0.5], "100 %": WITHIN})
    path = budget_lines(budgets, [F1, ZS], FRACTIONS, tmp_path / "b.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Two budgets at one fraction: evenly spaced instead of a log axis.
    same = budget_lines(budgets, [F1], {"1 %": 0.1, "10 %": 0.1, "100 %": 1}, tmp_path / "s.png")
    assert same.is_file()
    with pytest.raises(ValueError, match=r"no fraction for budget\(s\) \['100 %'\]"):
        budget_lines(budgets, [F1], {"1 %": 0.01, "10 %": 0.1}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="at least one budget"):
        budget_lines({}, [F1], FRACTIONS, tmp_path / "d.png")


def test_fewest_au_positives_over_runs_and_the_note():
    def run(**positives):
        return {"metrics": {"bp4d": {"au": {"mean_f1": 0.3, "per_au_positives": positives}}}}

    rows = {"a": [run(AU1=12, AU9=2, AU15=3)], "b": [run(AU1=12, AU9=3, AU15=2), _run(0.2)]}
    assert fewest_positives(rows, F1) == (2, ["AU9", "AU15"])
    assert fewest_positives(rows, ZS) is None  # not an AU column
    assert fewest_positives({"a": [_run(0.3)]}, F1) is None  # metrics without counts
    note = positives_note(rows, [F1, ZS])
    assert note[0].startswith("Fewest positives of one AU in the evaluated split, per AU "
                              "column: BP4D AU F1: 2 (AU9, AU15). ") and note[1] == ""  # fmt: skip
    assert positives_note({"a": [_run(0.3)]}, [F1]) == []


def test_chance_row_is_one_runs_trivial_scores_under_its_own_label():
    trivial = {"emotionet": {"au": {"mean_f1": 0.44}}}
    rows = {
        "single-task AU": [{"seed": 0, "metrics": {}}],  # recorded before chance levels: none
        "FBN": [{"seed": 1, "metrics": {}, "trivial": trivial}, {"seed": 2, "trivial": {}}],
    }
    row = chance_row(rows)
    assert row == {CHANCE: [{"metrics": trivial, "seed": 1}]}
    column = Column("emotionet", "au", "mean_f1", "EN AU F1")
    assert "| chance (trivial predictors) | 0.440 |" in summary_table(row, [column])
    assert chance_row({"FBN": [{"seed": 0, "metrics": {}}]}) == {}


def test_training_time_line_names_the_machine_and_counts_threads_in_the_right_number():
    machine = platform.machine()
    assert (
        training_time_line(5400, 1)
        == f"- Total training time: 90 min on {machine} (1 torch thread)."
    )
    assert (
        training_time_line(89, 2) == f"- Total training time: 1 min on {machine} (2 torch threads)."
    )


def test_stopping_line_counts_plateaus_and_names_the_runs_that_hit_the_step_limit():
    plateau = "stopped at step 800: the validation score peaked at step 200"
    results = {
        "single-task AU": [{"seed": 0, "steps": 800, "stopped": plateau},
                           {"seed": 1, "steps": 1000, "stopped": plateau}],
        "FBN": [{"seed": 0, "steps": 2400}, {"seed": 1, "steps": 2400},
                {"seed": 2, "steps": 1400, "stopped": plateau}],
    }  # fmt: skip
    assert stopping_line(results) == [
        "3 of 5 runs stopped at a validation plateau; the others reached the step limit (2400) "
        "first, so their numbers may still have been rising: FBN (seeds 0, 1).",
        "",
    ]
    every = {"single-task AU": results["single-task AU"]}
    assert stopping_line(every) == ["2 of 2 runs stopped at a validation plateau.", ""]
    assert stopping_line({"FBN": []}) == []
