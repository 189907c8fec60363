import numpy as np
import pytest
import torch

from holistic.schema import (
    AU_VOCABULARIES,
    BASIC_EXPRESSIONS,
    COMPOUND_COMPONENTS,
    COMPOUND_VOCABULARIES,
    EXPRESSION_VOCABULARIES,
    EXPRESSIONS,
    FACS,
    LabelSpace,
    au_name,
    check_au,
    resolve_aus,
    resolve_expressions,
)


def test_default_expression_vocabulary_is_the_abaw_order():
    assert EXPRESSION_VOCABULARIES["basic7"] == (
        "neutral",
        "anger",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
    )
    assert EXPRESSION_VOCABULARIES["abaw8"][-1] == "other"
    assert set(EXPRESSIONS) == {*EXPRESSION_VOCABULARIES["basic7"], "contempt", "other"}


def test_au_vocabularies():
    fbn, union = AU_VOCABULARIES["fbn17"], AU_VOCABULARIES["union17"]
    assert len(fbn) == len(union) == 17
    assert set(fbn) ^ set(union) == {11, 14}
    assert AU_VOCABULARIES["abaw2020"] == (1, 2, 4, 6, 12, 15, 20, 25)
    assert len(AU_VOCABULARIES["abaw2021"]) == 12
    # The union vocabulary is exactly the union of the four datasets' AU sets.
    sources = ("disfa12", "bp4d12", "emotionet11", "abaw2020")
    assert set().union(*(AU_VOCABULARIES[s] for s in sources)) == set(union)


def test_facs_table_covers_every_named_vocabulary():
    for name, aus in AU_VOCABULARIES.items():
        missing = [au for au in aus if au not in FACS]
        assert not missing, f"{name}: {missing}"
    assert au_name(12) == "lip corner puller"
    assert check_au("AU04") == 4 and check_au(" 25") == 25
    with pytest.raises(ValueError, match="not in the FACS table"):
        check_au(3)
    with pytest.raises(ValueError, match="not an AU number"):
        check_au("brow")


def test_compound_vocabularies():
    rafdb = COMPOUND_VOCABULARIES["rafdb11"]
    assert (
        len(rafdb) == 11
        and rafdb[0] == "happily_surprised"
        and rafdb[-1] == "disgustedly_surprised"
    )
    assert COMPOUND_VOCABULARIES["abaw_compound7"][0] == "fearfully_surprised"
    assert len(COMPOUND_VOCABULARIES["prototypical23"]) == 23
    for name in rafdb:
        first, second = COMPOUND_COMPONENTS[name]
        assert first in BASIC_EXPRESSIONS and second in BASIC_EXPRESSIONS and first != second


def test_resolve_rejects_bad_vocabularies():
    assert resolve_aus([12, "AU6"]) == (12, 6)
    with pytest.raises(ValueError, match="unknown AU vocabulary"):
        resolve_aus("fbn18")
    with pytest.raises(ValueError, match="duplicates"):
        resolve_expressions(["anger", "anger"])
    with pytest.raises(ValueError, match="unknown expression 'angry'"):
        resolve_expressions(["angry"])


def test_project_full_record():
    space = LabelSpace(aus=[1, 12, 25], compounds="rafdb11")
    out = space.project(
        {
            "dataset": "demo",
            "va": [0.5, -0.25],
            "expr": "happiness",
            "au": {"12": 1, "25": 0, "9": 1},  # AU9 is outside the vocabulary: ignored
            "au_intensity": {"12": 3},
            "compound": "sadly_angry",
        }
    )
    np.testing.assert_allclose(out["va"], [0.5, -0.25])
    assert out["va_mask"]
    assert out["expr"] == 4 and out["expr_mask"]
    np.testing.assert_array_equal(out["au"], [0, 1, 0])
    np.testing.assert_array_equal(out["au_mask"], [False, True, True])
    np.testing.assert_array_equal(out["au_intensity"], [0, 3, 0])
    np.testing.assert_array_equal(out["au_intensity_mask"], [False, True, False])
    assert out["compound"] == 3 and out["compound_mask"]


def test_project_masks_what_is_absent_or_outside_the_vocabulary():
    space = LabelSpace()  # basic7, fbn17, no compounds
    out = space.project({"expr": "contempt"})
    assert not out["expr_mask"] and not out["va_mask"] and not out["au_mask"].any()
    assert "compound" not in out
    # contempt is a class of the AffectNet-8 vocabulary
    out8 = LabelSpace(expressions="affectnet8").project({"expr": "contempt"})
    assert out8["expr"] == 7 and out8["expr_mask"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"va": [1.5, 0.0]}, r"\[-1, 1\]"),
        ({"va": [0.1]}, "valence, arousal"),
        ({"expr": "happy"}, "unknown expression 'happy'"),
        ({"au": {"12": -1}}, r"au\['12'\] must be one of"),
        ({"au": {"3": 1}}, "AU3 is not in the FACS table"),
        ({"au_intensity": {"12": 7}}, "must be one of"),
        ({"compound": "happily_angry"}, "unknown compound"),
    ],
)
def test_project_rejects_malformed_records_naming_them(record, message):
    space = LabelSpace(compounds="rafdb11")
    with pytest.raises(ValueError, match=message) as error:
        space.project({"dataset": "affectnet", "source_path": "img/1.jpg", **record})
    assert "img/1.jpg" in str(error.value)


def test_project_batch_stacks_tensors():
    space = LabelSpace(aus="abaw2020")
    batch = space.project_batch([{"expr": "anger"}, {"va": [0.0, 0.1], "au": {"1": 1}}])
    assert batch["expr"].dtype == torch.int64 and batch["expr"].tolist() == [1, 0]
    assert batch["expr_mask"].tolist() == [True, False]
    assert batch["au"].shape == (2, 8) and batch["au_mask"].sum() == 1
    assert batch["va_mask"].tolist() == [False, True]
