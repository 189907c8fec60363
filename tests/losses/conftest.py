import pytest

import relatedness
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES

EXPRESSIONS = EXPRESSION_VOCABULARIES["basic7"]
AUS = AU_VOCABULARIES["fbn17"]


@pytest.fixture(scope="session")
def cognitive():
    """P(AU | expression) [7, 17] from the cognitive table, weighted."""
    return relatedness.load_table("cognitive").au_given_expression(EXPRESSIONS, AUS, weighted=True)


def expr_index(name: str) -> int:
    return EXPRESSIONS.index(name)


def au_index(au: int) -> int:
    return AUS.index(au)
