"""The shipped relatedness tables, their tensors, and the loader's validation."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

import relatedness
from holistic.schema import AU_VOCABULARIES, COMPOUND_VOCABULARIES
from relatedness import RelatednessTable, TableError, TableRow, load_table

SIX = ("happiness", "sadness", "fear", "anger", "surprise", "disgust")
FBN17 = AU_VOCABULARIES["fbn17"]

# reference/relatedness.md §1.1, transcribed: AU -> (happiness, sadness, fear, anger, surprise,
# disgust); 0 = blank.
TABLE_V_BY_AU = {
    1: (0, 0.6, 1, 0, 1, 0),
    2: (0, 0, 0.57, 0, 1, 0),
    4: (0, 1, 1, 1, 0, 0.31),
    5: (0, 0, 0.63, 0, 0.66, 0),
    6: (0.51, 0.5, 0, 0, 0, 0),
    7: (0, 0, 0, 1, 0, 0),
    9: (0, 0, 0, 0, 0, 1),
    10: (0, 0, 0, 0.26, 0, 1),
    11: (0, 0.26, 0, 0, 0, 0),
    12: (1, 0, 0, 0, 0, 0),
    15: (0, 1, 0, 0, 0, 0),
    17: (0, 0.67, 0, 0.52, 0, 1),
    20: (0, 0, 1, 0, 0, 0),
    23: (0, 0, 0, 0.29, 0, 0),
    24: (0, 0, 0, 1, 0, 0.26),
    25: (1, 0, 1, 0, 1, 0),
    26: (0, 0, 0.33, 0, 1, 0),
}

# reference/relatedness.md §4: category -> prototypical AUs.
PROTOTYPES = {
    "happiness": {12, 25},
    "sadness": {4, 15},
    "fear": {1, 4, 20, 25},
    "anger": {4, 7, 24},
    "surprise": {1, 2, 25, 26},
    "disgust": {9, 10, 17},
    "happily_sad": {4, 6, 12, 25},
    "happily_surprised": {1, 2, 12, 25},
    "happily_disgusted": {10, 12, 25},
    "sadly_fearful": {1, 4, 15, 25},
    "sadly_angry": {4, 7, 15},
    "sadly_surprised": {1, 4, 25, 26},
    "sadly_disgusted": {4, 10},
    "fearfully_angry": {4, 20, 25},
    "fearfully_surprised": {1, 2, 5, 20, 25},
    "fearfully_disgusted": {1, 4, 10, 20, 25},
    "angrily_surprised": {4, 25, 26},
    "disgustedly_surprised": {1, 2, 5, 10},
    "happily_fearful": {1, 2, 12, 25, 26},
    "angrily_disgusted": {4, 10, 17},
    "awed": {1, 2, 5, 25},
    "appalled": {4, 9, 10},
    "hatred": {4, 7, 10},
}

# reference/relatedness.md §5, RAF-DB compound labels 1-11 with their prototypical AUs.
RAFDB11 = [
    ("happily_surprised", {1, 2, 12, 25}),
    ("happily_disgusted", {10, 12, 25}),
    ("sadly_fearful", {1, 4, 15, 25}),
    ("sadly_angry", {4, 7, 15}),
    ("sadly_surprised", {1, 4, 25, 26}),
    ("sadly_disgusted", {4, 10}),
    ("fearfully_angry", {4, 20, 25}),
    ("fearfully_surprised", {1, 2, 5, 20, 25}),
    ("angrily_surprised", {4, 25, 26}),
    ("angrily_disgusted", {4, 10, 17}),
    ("disgustedly_surprised", {1, 2, 5, 10}),
]


@pytest.fixture(scope="module")
def cognitive() -> RelatednessTable:
    return load_table("cognitive")


@pytest.fixture(scope="module")
def compound() -> RelatednessTable:
    return load_table("compound")


# ----------------------------------------------------------------------------- shipped tables


@pytest.mark.parametrize(
    ("name", "rows", "categories"),
    [("cognitive", 32, 6), ("empirical-affwild2", 33, 6), ("compound", 80, 23)],
)
def test_shipped_tables_load(name, rows, categories):
    table = load_table(name)
    assert table.name == name
    assert table.path == relatedness.TABLES[name]
    assert len(table) == rows
    assert len(table.categories) == categories
    assert table.comments, "a shipped table must carry provenance comments"
    assert relatedness.list_tables() == ["cognitive", "empirical-affwild2", "compound"]


def test_cognitive_spot_checks(cognitive):
    assert cognitive.categories == SIX
    assert cognitive.aus == FBN17
    assert cognitive.weights("happiness") == {12: 1.0, 25: 1.0, 6: 0.51}
    assert cognitive.weights("sadness") == {4: 1, 15: 1, 1: 0.6, 6: 0.5, 11: 0.26, 17: 0.67}
    assert 10 not in cognitive.weights("surprise")
    assert cognitive.weights("surprise") == {1: 1, 2: 1, 25: 1, 26: 1, 5: 0.66}
    assert cognitive.weights("neutral") == {}
    kinds = {(r.category, r.au): r.kind for r in cognitive.rows}
    assert kinds["happiness", 12] == "prototypical"
    assert kinds["happiness", 6] == "observational"
    assert not any(r.uncertain for r in cognitive.rows)


def test_cognitive_matrix_equals_table_v(cognitive, caplog):
    with caplog.at_level(logging.WARNING, logger="relatedness"):
        matrix = cognitive.au_given_expression(SIX, "fbn17")
    assert not caplog.records  # every row has a head under fbn17
    assert matrix.shape == (6, 17) and matrix.dtype == torch.float32
    for j, au in enumerate(FBN17):
        for i, emotion in enumerate(SIX):
            assert matrix[i, j].item() == pytest.approx(TABLE_V_BY_AU[au][i]), (emotion, au)
    binary = cognitive.au_given_expression(SIX, "fbn17", weighted=False)
    expected = torch.tensor([[float(TABLE_V_BY_AU[au][i] > 0) for au in FBN17] for i in range(6)])
    assert torch.equal(binary, expected)


def test_denominators_fbn17_and_union17(cognitive, caplog):
    # reference/relatedness.md §7.4 and §3.
    sums = cognitive.au_given_expression(SIX, "fbn17").sum(1)
    assert sums.tolist() == pytest.approx([2.51, 4.03, 5.53, 4.07, 4.66, 3.57], abs=1e-5)
    with caplog.at_level(logging.WARNING, logger="relatedness"):
        union = cognitive.au_given_expression(SIX, "union17")
    assert union.sum(1).tolist() == pytest.approx([2.51, 3.77, 5.53, 4.07, 4.66, 3.57], abs=1e-5)
    assert union[:, AU_VOCABULARIES["union17"].index(14)].abs().sum() == 0
    warnings = [r for r in caplog.records if r.name == "relatedness"]
    assert len(warnings) == 1
    assert "sadness→AU11 dropped: not in the run's AU vocabulary" in warnings[0].getMessage()


def test_neutral_contempt_other_rows_are_zero(cognitive):
    basic7 = cognitive.au_given_expression("basic7", "fbn17")
    assert basic7.shape == (7, 17)
    assert basic7[0].abs().sum() == 0  # neutral
    assert torch.equal(basic7[4], cognitive.au_given_expression(["happiness"], FBN17)[0])
    affectnet8 = cognitive.au_given_expression("affectnet8", "fbn17")
    assert affectnet8[7].abs().sum() == 0  # contempt
    abaw8 = cognitive.au_given_expression("abaw8", "fbn17")
    assert abaw8[7].abs().sum() == 0  # other


def test_au_vocabulary_order_and_spelling(cognitive):
    matrix = cognitive.au_given_expression(["happiness"], ["AU25", "6", 12, 4])
    assert matrix.tolist() == [[1.0, pytest.approx(0.51), 1.0, 0.0]]


def test_au_given_expression_rejects_unknown_names(cognitive):
    with pytest.raises(ValueError, match="joy"):
        cognitive.au_given_expression(["happiness", "joy"], "fbn17")
    with pytest.raises(ValueError, match="happily_surprised"):
        cognitive.au_given_expression(["happily_surprised"], "fbn17")
    with pytest.raises(ValueError, match="AU3"):
        cognitive.au_given_expression(["happiness"], [3, 12])


def test_compound_table_matches_reference(compound):
    assert compound.categories == tuple(PROTOTYPES)
    for category, aus in PROTOTYPES.items():
        assert set(compound.weights(category)) == aus, category
        assert set(compound.weights(category).values()) == {1.0}
    assert all(r.kind == "prototypical" for r in compound.rows)
    everything = compound.compound_prototypes("prototypical23", "fbn17")
    for i, category in enumerate(COMPOUND_VOCABULARIES["prototypical23"]):
        assert {FBN17[j] for j in everything[i].nonzero().flatten().tolist()} == PROTOTYPES[
            category
        ]


def test_compound_prototypes_rafdb11(compound):
    assert COMPOUND_VOCABULARIES["rafdb11"] == tuple(name for name, _ in RAFDB11)
    matrix = compound.compound_prototypes("rafdb11", "fbn17")
    expected = torch.tensor([[float(au in aus) for au in FBN17] for _, aus in RAFDB11])
    assert torch.equal(matrix, expected)
    assert torch.equal(compound.compound_prototypes("rafdb11", "fbn17", weighted=False), expected)


def test_compound_basic_rows_agree_with_cognitive(compound, cognitive):
    protos = compound.au_given_expression(SIX, "fbn17")
    binary = cognitive.au_given_expression(SIX, "fbn17", weighted=False)
    prototypical = torch.tensor(
        [[float(TABLE_V_BY_AU[au][i] == 1) for au in FBN17] for i in range(6)]
    )
    assert torch.equal(protos, prototypical)
    assert bool((protos <= binary).all())


def test_compound_uncertain_rows(compound):
    flagged = {(r.category, r.au) for r in compound.rows if r.uncertain}
    assert flagged == {("sadly_fearful", 15), ("sadly_angry", 7), ("hatred", 7)}
    notes = {r.category: r.note for r in compound.rows if r.uncertain}
    assert "{1, 4, 20, 25}" in notes["sadly_fearful"]
    assert "{4, 15}" in notes["sadly_angry"]
    assert "{4, 10}" in notes["hatred"]
    dropped = load_table("compound", uncertain="drop")
    assert len(dropped) == 80 - 3
    # Dropping keeps the AUs both sources agree on, so every RAF-DB class still has a prototype.
    assert dropped.weights("sadly_fearful") == {1: 1.0, 4: 1.0, 25: 1.0}
    assert dropped.weights("sadly_angry") == {4: 1.0, 15: 1.0}
    assert dropped.weights("hatred") == {4: 1.0, 10: 1.0}
    protos = dropped.compound_prototypes("rafdb11", "fbn17")
    assert bool((protos.sum(1) > 0).all())


def test_compound_prototypes_errors_and_warning(compound, cognitive, caplog):
    with pytest.raises(ValueError) as info:
        cognitive.compound_prototypes(["happily_surprised"], "fbn17")
    assert "happily_surprised" in str(info.value) and "cognitive" in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        compound.compound_prototypes(["sadly_disgusted"], [12])
    with pytest.raises(ValueError, match="joyful"):
        compound.compound_prototypes(["joyful"], "fbn17")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="relatedness"):
        matrix = compound.compound_prototypes("rafdb11", "abaw2020")
    assert matrix.shape == (11, 8)
    records = [r for r in caplog.records if r.name == "relatedness"]
    assert len(records) == 1
    assert "happily_disgusted→AU10" in records[0].getMessage()
    assert "not in the run's AU vocabulary" in records[0].getMessage()


def test_empirical_table():
    table = load_table("empirical-affwild2")
    assert table.weights("happiness") == {12: 0.82, 25: 0.7, 6: 0.57, 7: 0.83, 10: 0.63}
    assert table.weights("disgust") == {9: 0.21, 10: 0.85, 17: 0.23, 4: 0.6, 7: 0.75, 25: 0.8}
    assert all(r.kind == "empirical" for r in table.rows)
    assert 11 not in table.aus and 14 not in table.aus
    (flagged,) = [r for r in table.rows if r.uncertain]
    assert (flagged.category, flagged.au, flagged.weight) == ("sadness", 4, 0.53)
    assert "illegible" in flagged.note
    assert table.weights("sadness") == {4: 0.53, 15: 0.42, 1: 0.31, 7: 0.13, 17: 0.1}
    dropped = load_table("empirical-affwild2", uncertain="drop")
    assert dropped.weights("sadness") == {15: 0.42, 1: 0.31, 7: 0.13, 17: 0.1}
    assert len(dropped) == len(table) - 1
    sadness = dropped.au_given_expression(["sadness"], "fbn17")[0]
    assert sadness[FBN17.index(4)] == 0


# ----------------------------------------------------------------------------- load / write


def test_uncertain_argument_is_checked():
    with pytest.raises(ValueError, match="keep"):
        load_table("cognitive", uncertain="maybe")


def test_missing_file_names_it_and_known_tables(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError) as info:
        load_table(missing)
    assert "nope.csv" in str(info.value)
    assert "empirical-affwild2" in str(info.value)
    with pytest.raises(FileNotFoundError, match="cognitiv"):
        load_table("cognitiv")


@pytest.mark.parametrize("name", ["cognitive", "empirical-affwild2", "compound"])
def test_to_csv_round_trip(name, tmp_path):
    table = load_table(name)
    path = table.to_csv(tmp_path / "copy.csv")
    again = load_table(path)
    assert again.name == "copy" and again.path == path
    assert again.rows == table.rows
    assert again.comments == table.comments
    copied = tmp_path / "shipped.csv"
    shutil.copy(relatedness.TABLES[name], copied)
    assert load_table(str(copied)).rows == table.rows


def test_dropped_table_round_trip_records_the_drop(tmp_path):
    table = load_table("empirical-affwild2", uncertain="drop")
    again = load_table(table.to_csv(tmp_path / "t.csv"))
    assert again.rows == table.rows
    assert "sadness→AU4" in again.comments[-1]


def test_table_built_in_code_round_trips(tmp_path):
    table = RelatednessTable(
        "mine",
        (
            TableRow("contempt", 14, "empirical", 0.4, source="my lab", note="left, right"),
            TableRow("awed", 5, "observational", 0.25, uncertain=True, note='says "wow"'),
        ),
    )
    again = load_table(table.to_csv(tmp_path / "mine.csv"))
    assert again.rows == table.rows
    assert again.comments == ("relatedness table 'mine'",)
    assert again.au_given_expression("affectnet8", [14])[7].item() == pytest.approx(0.4)
    with pytest.raises(TableError, match="prototypical rows have weight 1"):
        RelatednessTable("bad", (TableRow("happiness", 12, "prototypical", 0.5),))


# ----------------------------------------------------------------------------- validation

GOOD = "happiness,12,prototypical,1,,test,"
HEADER = "category,au,kind,weight,uncertain,source,note"


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (["category,au,kind,weight,uncertain,source", GOOD], 3, "missing ['note']"),
        (["category,kind,au,weight,uncertain,source,note", GOOD], 3, "out of order"),
        ([HEADER, GOOD, "joy,12,prototypical,1,,,"], 5, "unknown category 'joy'"),
        ([HEADER, "neutral,12,empirical,0.3,,,"], 4, "'neutral' takes no rows"),
        ([HEADER, GOOD, "sadness,four,prototypical,1,,,"], 5, "AU 'four' is not a number"),
        ([HEADER, GOOD, "sadness,3,prototypical,1,,,"], 5, "AU3 is not in the FACS table"),
        ([HEADER, "sadness,4,typical,1,,,"], 4, "unknown kind 'typical'"),
        ([HEADER, "sadness,1,observational,high,,,"], 4, "weight 'high' is not a number"),
        ([HEADER, "sadness,1,observational,1.5,,,"], 4, "outside (0, 1]"),
        ([HEADER, "sadness,1,observational,-0.1,,,"], 4, "outside (0, 1]"),
        ([HEADER, "sadness,1,observational,0,,,"], 4, "weight 0 is not allowed"),
        ([HEADER, "sadness,1,observational,nan,,,"], 4, "not a finite number"),
        ([HEADER, GOOD, "sadness,4,prototypical,0.9,,,"], 5, "prototypical rows have weight 1"),
        ([HEADER, "sadness,1,observational,0.6,no,,"], 4, "uncertain must be 'yes' or empty"),
        ([HEADER, "sadness,1,observational,0.6,,"], 4, "expected 7 fields"),
        (
            [HEADER, GOOD, "sadness,4,prototypical,1,,,", GOOD],
            6,
            "duplicate row (happiness, AU12): first at line 4, again at line 6",
        ),
        # A quoted note spanning two physical lines, then a blank line: lines still count.
        (
            [HEADER, 'happiness,6,observational,0.51,,,"two\nlines"', "", "joy,1,empirical,0.1,,,"],
            7,
            "unknown category 'joy'",
        ),
    ],
)
def test_validation_names_file_line_and_reason(tmp_path, body, line, reason):
    path = tmp_path / "broken-table.csv"
    path.write_text("# a provenance comment\n# another one\n" + "\n".join(body) + "\n")
    with pytest.raises(TableError) as info:
        load_table(path)
    message = str(info.value)
    assert "broken-table.csv" in message
    assert f"line {line}:" in message
    assert reason in message
    assert info.value.line == line
    assert isinstance(info.value, ValueError)


def test_file_without_header(tmp_path):
    path = tmp_path / "only-comments.csv"
    path.write_text("# nothing here\n# at all\n")
    with pytest.raises(ValueError, match=r"only-comments\.csv, line 2: no header"):
        load_table(path)


def test_header_only_table_is_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n")
    table = load_table(path)
    assert len(table) == 0 and table.categories == () and table.aus == ()
    assert table.au_given_expression("basic7", "fbn17").abs().sum() == 0
