"""The spreadsheet formula escape: safe to open, and undone exactly on import."""

from itertools import product

import pytest

from llmops.core.csv_cells import FORMULA_TRIGGERS, neutralise, restore

# Every string of up to 4 characters over the characters that matter, and a few ordinary ones.
ALPHABET = ("'", *FORMULA_TRIGGERS, "a", " ", "{")
SHORT_TEXTS = ["".join(chars) for length in range(5) for chars in product(ALPHABET, repeat=length)]


def test_no_neutralised_cell_starts_a_formula_and_restore_undoes_it_exactly():
    for text in SHORT_TEXTS:
        cell = neutralise(text)
        assert not cell.startswith(FORMULA_TRIGGERS), repr(text)
        assert restore(cell) == text, repr(text)


def test_distinct_texts_give_distinct_cells():
    cells = [neutralise(text) for text in SHORT_TEXTS]
    assert len(set(cells)) == len(cells)


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1+1", "''=1+1"),
        ("''-1", "'''-1"),
        ("'tis", "'tis"),
        ("'", "'"),
        ("", ""),
        ('{"a": "=1"}', '{"a": "=1"}'),
        (" =1", " =1"),
    ],
)
def test_the_rule(text, cell):
    assert neutralise(text) == cell
    assert restore(cell) == text


def test_cells_written_by_hand():
    assert restore("'=1+1") == "=1+1"  # the escaped form of a formula
    assert restore("=1+1") == "=1+1"  # an unescaped formula is taken as written
    assert restore("'hello") == "'hello"  # a quote before ordinary text is part of the text
