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

from app.predictions.grouping import group_rows

PARAMETERS = ("r", "alpha", "a", "b")
# Above this many customers the fit starts from a fit on a random sample of them.
WARM_START_ABOVE = 200_000
WARM_START_SAMPLE = 50_000


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


@dataclass(frozen=True, slots=True)
class _Grouped:
    """Distinct (x, t_x, T) rows with their counts, split into buyers (x > 0) and the rest,
    with the x-only terms' distinct x values (computed once per distinct x per step)."""

    ux: np.ndarray  # distinct x
    nx: np.ndarray  # customers per distinct x
    x: np.ndarray  # buyers' rows
    ix: np.ndarray  # each buyer row's index into ux
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    T0: np.ndarray  # non-buyers' distinct T
    w0: np.ndarray


def _group(x, t_x, T) -> _Grouped:
    (gx, gt_x, gT), _, weights = group_rows(x, t_x, T)
    weights = weights.astype(float)
    ux, ix = np.unique(gx, return_inverse=True)
    ix = ix.ravel()
    nx = np.bincount(ix, weights=weights, minlength=ux.size)
    buyer = gx > 0
    return _Grouped(ux=ux, nx=nx, x=gx[buyer], ix=ix[buyer], t_x=gt_x[buyer], T=gT[buyer],
                    w=weights[buyer], T0=gT[~buyer], w0=weights[~buyer])


def _negative_ll_and_gradient(log_params, data: _Grouped):
    params = np.exp(log_params)
    r, alpha, a, b = params
    ux, nx = data.ux, data.nx
    # A1 + A2 and their derivatives depend on x only.
    psi_ab, psi_r, psi_b = digamma(a + b), digamma(r), digamma(b)
    psi_abx = digamma(a + b + ux)
    ll = nx @ (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + gammaln(a + b)
               + gammaln(b + ux) - gammaln(b) - gammaln(a + b + ux))
    d_r = nx @ (digamma(r + ux) - psi_r + np.log(alpha))
    d_alpha = nx.sum() * r / alpha
    d_a = nx @ (psi_ab - psi_abx)
    d_b = nx @ (psi_ab + digamma(b + ux) - psi_b - psi_abx)
    # Customers with no repeat purchase: the tail is A3 alone.
    if data.T0.size:
        log_t0 = np.log(alpha + data.T0)
        ll -= r * (data.w0 @ log_t0)
        d_r -= data.w0 @ log_t0
        d_alpha -= r * (data.w0 @ (1 / (alpha + data.T0)))
    if data.x.size:
        x, w = data.x, data.w
        rx = r + x
        log_t = np.log(alpha + data.T)
        log_tx = np.log(alpha + data.t_x)
        log_bx1 = np.log(np.where(ux > 0, b + ux - 1, 1.0))
        a3 = -rx * log_t
        a4 = np.log(a) - log_bx1[data.ix] - rx * log_tx
        tail = np.logaddexp(a3, a4)
        w3 = np.exp(a3 - tail)
        w4 = 1.0 - w3
        ll += w @ tail
        d_r -= w @ (w3 * log_t + w4 * log_tx)
        d_alpha -= w @ (rx * (w3 / (alpha + data.T) + w4 / (alpha + data.t_x)))
        d_a += (w @ w4) / a
        d_b -= w @ (w4 / (b + x - 1))
    grad = np.array([d_r, d_alpha, d_a, d_b])
    # Chain rule for the log-parameters; minimise the negative.
    return -float(ll), -grad * params


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
    # A sensible start for α: the mean age, which sets the scale of the time unit.
    start = np.log([initial[0], max(float(np.mean(big_t)), 1e-3) * initial[1] / 10,
                    initial[2], initial[3]])
    if x.size > WARM_START_ABOVE:
        # Most of the search on a random sample, then a few steps on everyone: the same
        # maximum, far fewer passes over a large store's customers.
        pick = np.random.default_rng(0).choice(x.size, WARM_START_SAMPLE, replace=False)
        start = _minimize(_group(x[pick], t_x[pick], big_t[pick]), start).x
    result = _minimize(_group(x, t_x, big_t), start)
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    # L-BFGS-B can stop "abnormally" in the line search on a flat ridge (e.g. a -> 0 and
    # b -> inf when nobody seems to drop out) with the gradient already negligible.
    flat = float(np.max(np.abs(result.jac))) < 1e-4 * max(1.0, abs(float(result.fun)))
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=-float(result.fun),
                       time_unit=time_unit, customers=int(x.size),
                       converged=bool(result.success or flat), iterations=int(result.nit))


def _minimize(data: _Grouped, start):
    return minimize(_negative_ll_and_gradient, start, args=(data,),
                    jac=True, method="L-BFGS-B", bounds=[(-15, 15)] * 4,
                    options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9})


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
