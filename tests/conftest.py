"""Fixtures shared across the suite. Keep this the only conftest.py: test folders have no
``__init__.py``, so a second conftest module would clash with this one by name."""

import pytest

import relatedness
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES


@pytest.fixture(scope="session")
def cognitive():
    """P(AU | expression) [7, 17] of the cognitive table, weighted, for basic7 x fbn17."""
    return relatedness.load_table("cognitive").au_given_expression(
        EXPRESSION_VOCABULARIES["basic7"], AU_VOCABULARIES["fbn17"], weighted=True
    )
