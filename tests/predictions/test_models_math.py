"""The models' formulas against direct, independent evaluations on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.predictions import bgnbd, gamma_gamma, scoring
from app.predictions.bgnbd import BGNBDParams
from app.predictions.data import summary_from_transactions
from app.predictions.gamma_gamma import GammaGammaParams

P = BGNBDParams(r=0.5, alpha=2.0, a=0.8, b=2.5, log_likelihood=0.0)


def hyp2f1_series(a, b, c, z, terms=4000):
    """Gauss's series, summed directly (z well inside the unit disc)."""
    total, term = 1.0, 1.0
    for n in range(terms):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        if abs(term) < 1e-16 * abs(total):
            break
    return total


def ll_direct(r, alpha, a, b, x, t_x, T):
    """Eq. 6 of Fader, Hardie & Lee (2005), term by term."""
    a1 = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    a2 = math.lgamma(a + b) + math.lgamma(b + x) - math.lgamma(b) - math.lgamma(a + b + x)
    a3 = (1 / (alpha + T)) ** (r + x)
    a4 = (a / (b + x - 1)) / (alpha + t_x) ** (r + x) if x > 0 else 0.0
    return a1 + a2 + math.log(a3 + a4)


def test_p_alive_is_one_without_repeat_purchases_and_matches_eq_11_otherwise():
    assert bgnbd.probability_alive(P, [0, 0], [0, 0], [5, 50]).tolist() == [1.0, 1.0]
    x, t_x, T = 2, 4.0, 10.0
    direct = 1 / (1 + P.a / (P.b + x - 1) * ((P.alpha + T) / (P.alpha + t_x)) ** (P.r + x))
    assert bgnbd.probability_alive(P, [x], [t_x], [T])[0] == pytest.approx(direct, rel=1e-12)


def test_log_likelihood_matches_eq_6():
    cases = [(0, 0.0, 3.0), (1, 1.5, 3.0), (5, 20.0, 30.0), (12, 39.0, 39.5)]
    got = bgnbd.log_likelihood((P.r, P.alpha, P.a, P.b), *map(np.array, zip(*cases, strict=True)))
    for value, (x, t_x, T) in zip(got, cases, strict=True):
        assert value == pytest.approx(ll_direct(P.r, P.alpha, P.a, P.b, x, t_x, T), rel=1e-12)


def test_conditional_expectation_matches_eq_10_with_the_series():
    x, t_x, T, t = 3, 6.0, 12.0, 8.0
    r, alpha, a, b = P.r, P.alpha, P.a, P.b
    h = hyp2f1_series(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * h)
    denominator = 1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    assert bgnbd.expected_transactions(P, t, [x], [t_x], [T])[0] == pytest.approx(
        numerator / denominator, rel=1e-10)


def test_a_customer_just_acquired_is_expected_to_buy_as_eq_9_says():
    # E[Y(t) | x=0, t_x=0, T=0] is the unconditional E[X(t)] of a new customer.
    t = np.array([0.5, 4.0, 52.0])
    new = bgnbd.expected_transactions_new(P, t)
    r, alpha, a, b = P.r, P.alpha, P.a, P.b
    direct = [(a + b - 1) / (a - 1) * (1 - (alpha / (alpha + s)) ** r
                                       * hyp2f1_series(r, b, a + b - 1, s / (alpha + s)))
              for s in t]
    assert new == pytest.approx(direct, rel=1e-10)
    assert bgnbd.expected_transactions(P, t, [0, 0, 0], [0, 0, 0], [0, 0, 0]) == pytest.approx(
        new, rel=1e-12)


def test_huge_purchase_counts_stay_finite():
    got = bgnbd.expected_transactions(P, 52.0, [400], [100.0], [100.5])
    assert np.isfinite(got).all() and got[0] > 0


def test_the_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 50).astype(float)
    T = rng.uniform(5, 40, 50)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 50), 0)
    data = bgnbd._group(x, t_x, T)
    theta = np.log([0.7, 3.0, 0.9, 2.0])
    value, grad = bgnbd._negative_ll_and_gradient(theta, data)
    # The grouped objective is the plain sum of eq. 6.
    assert -value == pytest.approx(bgnbd.log_likelihood(np.exp(theta), x, t_x, T).sum(),
                                   rel=1e-12)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        up = bgnbd._negative_ll_and_gradient(theta + step, data)[0]
        down = bgnbd._negative_ll_and_gradient(theta - step, data)[0]
        assert grad[i] == pytest.approx((up - down) / 2e-6, rel=1e-5)


def simulate(r, alpha, a, b, n, T, seed):
    """The BG/NBD story, drawn customer by customer."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    xs, txs = np.zeros(n), np.zeros(n)
    for i in range(n):
        t, x, last = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x, last = x + 1, t
            if rng.random() < p[i]:
                break
        xs[i], txs[i] = x, last
    return xs, txs, np.full(n, T)


def test_the_fit_recovers_the_parameters_of_simulated_customers():
    x, t_x, T = simulate(0.25, 4.0, 0.8, 2.5, 20000, 52.0, seed=7)
    fitted = bgnbd.fit(x, t_x, T)
    assert fitted.converged
    assert fitted.r == pytest.approx(0.25, rel=0.1)
    assert fitted.alpha == pytest.approx(4.0, rel=0.15)
    # a and b are the least well identified: their ratio, the mean drop-out chance after a
    # purchase (0.8 / 3.3), much better than each.
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(0.8 / 3.3, rel=0.1)
    assert fitted.a == pytest.approx(0.8, rel=0.25)
    assert fitted.b == pytest.approx(2.5, rel=0.35)


def test_gamma_gamma_recovers_simulated_spend_and_shrinks_towards_the_mean():
    rng = np.random.default_rng(5)
    p, q, v = 6.0, 4.0, 15.0
    nu = rng.gamma(q, 1 / v, 20000)
    x = rng.integers(1, 8, 20000)
    m = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(20000)])
    fitted = gamma_gamma.fit(x, m)
    # The mean order value γp/(q-1) is well identified; p, q, γ each less so.
    assert fitted.p * fitted.gamma / (fitted.q - 1) == pytest.approx(p * v / (q - 1), rel=0.03)
    assert fitted.p == pytest.approx(p, rel=0.15)
    assert fitted.q == pytest.approx(q, rel=0.15)
    assert fitted.gamma == pytest.approx(v, rel=0.2)
    params = GammaGammaParams(p=6.0, q=4.0, gamma=15.0, log_likelihood=0.0)
    # (q-1)/(px+q-1) of the population mean γp/(q-1) = 30, px/(px+q-1) of the own mean.
    got = gamma_gamma.conditional_expected_spend(params, [0, 2], [0.0, 50.0])
    assert got.tolist() == pytest.approx([30.0, 3 / 15 * 30 + 12 / 15 * 50])


def test_several_orders_on_one_day_are_one_transaction():
    # Customer 1: days 10 (two orders), 12, 20 (two orders); customer 2: day 15 only.
    data = summary_from_transactions([1, 1, 1, 1, 1, 2], [10, 10, 12, 20, 20, 15],
                                     [5, 7, 30, 1, 2, 9], as_of_day=30)
    assert data.customer_id.tolist() == [1, 2]
    assert data.frequency.tolist() == [2, 0]
    assert data.recency.tolist() == [10, 0]
    assert data.age.tolist() == [20, 15]
    assert data.monetary.tolist() == [(30 + 3) / 2, 0]


def test_scores_follow_their_definitions():
    bg = BGNBDParams(r=0.3, alpha=4.0, a=0.8, b=2.5, log_likelihood=0.0)
    gg = GammaGammaParams(p=6.0, q=4.0, gamma=15.0, log_likelihood=0.0)
    x, t_x, T, m = np.array([0, 3, 25]), np.array([0, 70, 200]), np.array([700, 120, 203]), \
        np.array([0, 40, 20])
    s = scoring.score(bg, gg, x, t_x, T, m)
    wk = 7.0
    for days in (30, 90, 365):
        assert s.expected[days] == pytest.approx(
            bgnbd.expected_transactions(bg, days / wk, x, t_x / wk, T / wk), rel=1e-12)
    months = np.arange(0, 13) * 365 / 12 / wk
    e = np.array([bgnbd.expected_transactions(bg, t, x, t_x / wk, T / wk) if t else 0 * x
                  for t in months])
    clv = sum((e[k] - e[k - 1]) * 1.10 ** (-k / 12) for k in range(1, 13)) \
        * gamma_gamma.conditional_expected_spend(gg, x, m)
    assert s.clv == pytest.approx(clv, rel=1e-10)
    # The frequent buyer is expected to order again within the year; the next-order day is
    # the first whole day at which the expected count reaches one.
    day = s.next_order_days[2]
    assert s.expected[365][0] < 1 and np.isnan(s.next_order_days[0])
    assert bgnbd.expected_transactions(bg, day / wk, x[2:], t_x[2:] / wk, T[2:] / wk)[0] >= 1
    assert bgnbd.expected_transactions(bg, (day - 1) / wk, x[2:], t_x[2:] / wk,
                                       T[2:] / wk)[0] < 1
    cuts = scoring.tier_cuts([1, 2, 3, 4, 5, 6])
    assert scoring.tiers([1.0, 3.5, 6.0, float("nan")], cuts) == ["low", "medium", "high", None]
