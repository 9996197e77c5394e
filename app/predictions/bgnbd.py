"""The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

A customer buys at a Poisson rate λ ~ Gamma(r, α) while alive, and after each repeat
purchase drops out with probability p ~ Beta(a, b). Per customer the data are x (repeat
purchases), t_x (time of the last purchase) and T (age), all measured from the first
purchase in one time unit; α is in that unit.

Everything is vectorised over customers and computed in log space (gammaln, digamma,
logaddexp), so a million customers take a fraction of a second to score. The fit maximises
the log-likelihood with L-BFGS-B on the logs of the four parameters, using the analytic
gradient below, over the distinct (x, t_x, T) triples weighted by how many customers share
them (with purchases counted by day this compresses a large shop a lot).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

PARAMETERS = ("r", "alpha", "a", "b")


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    time_unit: str = "weeks"
    customers: int = 0
    converged: bool = True
    iterations: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _arrays(frequency, recency, T):
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    return x, t_x, big_t


def _terms(params, x, t_x, T):
    r, alpha, a, b = params
    buyer = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(buyer, np.log(a) - np.log(np.where(buyer, b + x - 1, 1.0))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1, a2, a3, a4


def log_likelihood(params, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood (eq. 6 of the paper) for params (r, α, a, b)."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    a1, a2, a3, a4 = _terms(params, x, t_x, big_t)
    return a1 + a2 + np.logaddexp(a3, a4)


def _negative_ll_and_gradient(log_params, x, t_x, T, weights):
    params = np.exp(log_params)
    r, alpha, a, b = params
    a1, a2, a3, a4 = _terms(params, x, t_x, T)
    tail = np.logaddexp(a3, a4)
    ll = a1 + a2 + tail
    w3 = np.exp(a3 - tail)
    w4 = np.exp(a4 - tail)  # 0 where x == 0
    buyer = x > 0
    safe_bx1 = np.where(buyer, b + x - 1, 1.0)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x))
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = (digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x)
           - np.where(buyer, w4 / safe_bx1, 0.0))
    grad = np.array([weights @ d_r, weights @ d_alpha, weights @ d_a, weights @ d_b])
    # Chain rule for the log-parameters; minimise the negative.
    return -float(weights @ ll), -grad * params


def fit(frequency, recency, T, *, time_unit: str = "weeks",
        initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for customers' (x, t_x, T) arrays.

    `recency` and `T` are in `time_unit`, which the result names (α is in it). Raises
    ValueError on empty or inconsistent input."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    if x.size == 0 or not (x.shape == t_x.shape == big_t.shape):
        raise ValueError("frequency, recency and T must be equally long and not empty")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(big_t < t_x):
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    triples, weights = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
    ux, ut_x, uT = triples[:, 0], triples[:, 1], triples[:, 2]
    # A sensible start for α: the mean age, which sets the scale of the time unit.
    start = np.log([initial[0], max(float(np.mean(big_t)), 1e-3) * initial[1] / 10,
                    initial[2], initial[3]])
    result = minimize(_negative_ll_and_gradient, start, args=(ux, ut_x, uT, weights.astype(float)),
                      jac=True, method="L-BFGS-B", bounds=[(-15, 15)] * 4,
                      options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9})
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    # L-BFGS-B can stop "abnormally" in the line search on a flat ridge (e.g. a -> 0 and
    # b -> inf when nobody seems to drop out) with the gradient already negligible.
    flat = float(np.max(np.abs(result.jac))) < 1e-4 * max(1.0, abs(float(result.fun)))
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=-float(result.fun),
                       time_unit=time_unit, customers=int(x.size),
                       converged=bool(result.success or flat), iterations=int(result.nit))


def _log_odds_dead(params: BGNBDParams, x, t_x, T):
    """log of a/(b+x-1) * ((α+T)/(α+t_x))^(r+x) for buyers; -inf for x == 0."""
    buyer = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (np.log(params.a) - np.log(np.where(buyer, params.b + x - 1, 1.0))
                 + (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + t_x)))
    return np.where(buyer, value, -np.inf)


def probability_alive(params: BGNBDParams, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T) (eq. 11). Exactly 1 for a customer with no repeat purchase: in
    BG/NBD a customer can only drop out right after a repeat purchase."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    return expit(-_log_odds_dead(params, x, t_x, big_t))


def _log_hyp2f1(a, b, c, z):
    """log 2F1(a, b; c; z) for 0 <= z < 1, through Euler's transformation where the direct
    series overflows (large x)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(direct)
        if np.any(bad):
            alt = np.log(hyp2f1(c - a, c - b, c, z)) + (c - a - b) * np.log1p(-z)
            direct = np.where(bad, alt, direct)
    return direct


def expected_transactions_if_alive(params: BGNBDParams, t, frequency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T] / P(alive | x, t_x, T): the part of eq. 10 that does not depend
    on t_x, so a caller can compute it once per distinct (x, T)."""
    x = np.asarray(frequency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + big_t + t)
    log_h = _log_hyp2f1(r + x, b + x, a + b + x - 1, z)
    # 1 - (α+T)^(r+x)/(α+T+t)^(r+x) * 2F1(...), as -expm1 for accuracy when t is small.
    second = -np.expm1(log_h + (r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
    return (a + b + x - 1) / (a - 1) * second


def expected_transactions(params: BGNBDParams, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t time units (eq. 10)."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    return (expected_transactions_if_alive(params, t, x, big_t)
            * expit(-_log_odds_dead(params, x, t_x, big_t)))


def expected_transactions_new(params: BGNBDParams, t) -> np.ndarray:
    """E[X(t)]: expected purchases in (0, t] by a customer who made a first purchase at 0
    (eq. 9), used for the cumulative repeat-transactions forecast."""
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_h = _log_hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * -np.expm1(r * (np.log(alpha) - np.log(alpha + t)) + log_h)
