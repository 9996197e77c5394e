"""The RFM rule table (app/profiles/rfm_rules.py): total, disjoint, every segment reached."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from app.profiles.rfm_rules import (
    DESCRIPTIONS,
    GRID,
    SEGMENTS,
    canonical_segment,
    segment_for,
)


def test_every_one_of_the_125_combinations_lands_in_exactly_one_segment():
    landed = Counter()
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        # exactly one: the grid cells naming a segment for this combination
        cells = [(row, fm) for row in GRID for fm in range(1, 6)
                 if row == r and 2 * fm <= f + m <= 2 * fm + 1]
        assert len(cells) == 1, (r, f, m, cells)
        name = segment_for(r, f, m)
        assert name in SEGMENTS
        assert GRID[cells[0][0]][cells[0][1] - 1] == name
        landed[name] += 1
    assert sum(landed.values()) == 125
    # every segment is reachable
    assert set(landed) == set(SEGMENTS)


def test_the_segments_are_the_eleven_named_ones_each_described():
    assert SEGMENTS == ("Champions", "Loyal", "Potential Loyalists", "New", "Promising",
                        "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them",
                        "Hibernating", "Lost")
    assert set(DESCRIPTIONS) == set(SEGMENTS)
    assert all(text.strip() and "\n" not in text for text in DESCRIPTIONS.values())


@pytest.mark.parametrize(("r", "f", "m", "segment"), [
    (5, 5, 5, "Champions"),
    (4, 4, 4, "Champions"),
    (5, 1, 1, "New"),
    (5, 1, 2, "New"),            # FM = 3 // 2 = 1: one modest order
    (5, 1, 3, "Potential Loyalists"),
    (4, 1, 1, "Promising"),
    (4, 3, 3, "Loyal"),
    (3, 5, 4, "Loyal"),
    (3, 2, 2, "Need Attention"),
    (3, 1, 1, "About to Sleep"),
    (2, 2, 2, "About to Sleep"),
    (2, 3, 4, "At Risk"),
    (1, 5, 5, "Can't Lose Them"),
    (2, 5, 5, "Can't Lose Them"),
    (2, 1, 1, "Hibernating"),
    (1, 2, 2, "Hibernating"),
    (1, 1, 1, "Lost"),
    (1, 1, 2, "Lost"),
])
def test_segment_for_reads_the_table(r, f, m, segment):
    assert segment_for(r, f, m) == segment


@pytest.mark.parametrize("bad", [0, 6, -1, None, "3", 2.5, True])
def test_segment_for_refuses_a_score_outside_1_to_5(bad):
    with pytest.raises(ValueError, match="from 1 to 5"):
        segment_for(bad, 3, 3)


def test_a_segment_name_is_recognised_whatever_its_case():
    assert canonical_segment("champions") == "Champions"
    assert canonical_segment("  can’t lose  them ") == "Can't Lose Them"
    assert canonical_segment("VIP") is None
