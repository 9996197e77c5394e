"""The RFM rule table: which named segment each (recency, frequency, monetary) score lands in.

Scores are 1-5 (5 = most recent / most orders / most spent; see app/analytics/rfm.py). The
table is the R against "FM" grid published by Putler ("RFM Analysis For Successful Customer
Segmentation", putler.com/rfm-analysis, and reproduced e.g. in churned.io's "RFM-Model"
page): a segment is a range of R against a range of FM, the mean of F and M. The published
ranges overlap at their edges (Loyal is R 2-5 x FM 3-5, Potential Loyalist R 3-5 x FM 1-3,
...), so here every cell of the 5 x 5 grid is given to exactly one of them, keeping each
segment inside (or, for Can't Lose Them at R 2 FM 5, next to) its published range:

    FM = (F + M) // 2          the mean of F and M, rounded down: a single order (F 1) must be
                               well above average in spend (M 3+) to read as more than "New"

    R \\ FM  1               2                    3                    4                5
    5       New             Potential Loyalists  Potential Loyalists  Champions        Champions
    4       Promising       Potential Loyalists  Loyal                Champions        Champions
    3       About to Sleep  Need Attention       Need Attention       Loyal            Loyal
    2       Hibernating     About to Sleep       At Risk              At Risk          Can't Lose
    1       Lost            Hibernating          At Risk              Can't Lose       Can't Lose

    ("Can't Lose" is Can't Lose Them.)

Every one of the 125 (R, F, M) combinations has one R and one FM, so it lands in exactly one
segment (tests/analytics/test_rfm_rules.py checks this, and that every segment is reached).
"""

from __future__ import annotations

SEGMENTS: tuple[str, ...] = (
    "Champions", "Loyal", "Potential Loyalists", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
)

DESCRIPTIONS: dict[str, str] = {
    "Champions": "Bought recently, often and the most. Reward them, ask for reviews and "
                 "referrals; no discounts needed.",
    "Loyal": "Buy regularly and spend well. Offer early access and loyalty perks; ask for "
             "reviews.",
    "Potential Loyalists": "Recent customers with above-average spend or more than one order. "
                           "Offer membership or a loyalty program; recommend related products.",
    "New": "Bought very recently, once and modestly. Welcome them and help them to a second "
           "order.",
    "Promising": "Bought fairly recently, once and modestly. Build awareness with a useful "
                 "follow-up or a small incentive.",
    "Need Attention": "Average recency, frequency and spend, starting to slip. A limited-time "
                      "offer or recommendations based on past orders.",
    "About to Sleep": "Below average recency and value. Reactivate with popular products or a "
                      "discount before they are lost.",
    "At Risk": "Spent well and ordered more than once, but long ago. Win them back with "
               "personal emails and relevant offers.",
    "Can't Lose Them": "Were among the best customers, but have not ordered for a long time. "
                       "Win them back with your strongest offer; ask what changed.",
    "Hibernating": "Last ordered long ago, with few orders and low spend. Offer other "
                   "products or special prices; do not over-spend on them.",
    "Lost": "Lowest recency, frequency and spend. Try one reactivation campaign, then leave "
            "them alone.",
}

# GRID[r][fm - 1]: the segment of recency score r with FM = (F + M) // 2 (the table above).
GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalists", "Loyal", "Champions", "Champions"),
    3: ("About to Sleep", "Need Attention", "Need Attention", "Loyal", "Loyal"),
    2: ("Hibernating", "About to Sleep", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Hibernating", "At Risk", "Can't Lose Them", "Can't Lose Them"),
}

SCORES = (1, 2, 3, 4, 5)


def fm_score(f: int, m: int) -> int:
    """The mean of the frequency and monetary scores, rounded down (1-5)."""
    return (f + m) // 2


def segment_for(r: int, f: int, m: int) -> str:
    """The segment of an (R, F, M) score, each 1-5. Raises ValueError on anything else."""
    for name, score in (("recency", r), ("frequency", f), ("monetary", m)):
        if score not in SCORES or isinstance(score, bool):
            raise ValueError(f"the {name} score must be a whole number from 1 to 5, "
                             f"not {score!r}")
    return GRID[r][fm_score(f, m) - 1]


def canonical_segment(name: str) -> str | None:
    """The segment called `name`, ignoring case and surrounding spaces (None: no such one)."""
    wanted = " ".join(name.split()).casefold().replace("\u2019", "'")
    return next((s for s in SEGMENTS if s.casefold() == wanted), None)
