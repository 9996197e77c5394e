"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

A repeat buyer's transaction values are Gamma(p, ν) around their own mean, and ν varies
across customers as Gamma(q, γ). Fitted on repeat buyers only: x = number of repeat
transactions (x > 0) and m = the mean value of those repeat transactions (the first
purchase is left out, as in the paper and in `lifetimes`' CDNOW summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int = 0
    converged: bool = True
    iterations: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def log_likelihood(params, frequency, monetary) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend m given x (up to the constant
    -log Γ(px) ... terms that do not depend on the data's own parameters are kept, so the
    value matches `lifetimes`)."""
    p, q, v = params
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))


def _negative_ll_and_gradient(log_params, ux, nx, ix, x, log_m, log_xm, xm, w, const):
    """The summed log-likelihood and its gradient; terms of x alone per distinct x."""
    params = np.exp(log_params)
    p, q, v = params
    px = p * ux
    psi_pxq = digamma(px + q)
    log_v = np.log(v)
    log_xmv = np.log(xm + v)
    pxq_row = p * x + q
    ll = (nx @ (gammaln(px + q) - gammaln(px)) - nx.sum() * (gammaln(q) - q * log_v)
          + p * (w @ (x * log_m)) - const + p * (w @ (x * np.log(x))) - w @ (pxq_row * log_xmv))
    d_p = (nx @ (ux * (psi_pxq - digamma(px))) + w @ (x * (log_m + np.log(x) - log_xmv)))
    d_q = nx @ psi_pxq - nx.sum() * (digamma(q) - log_v) - w @ log_xmv
    d_v = nx.sum() * q / v - w @ (pxq_row / (xm + v))
    grad = np.array([d_p, d_q, d_v])
    return -float(ll), -grad * params


def fit(frequency, monetary) -> GammaGammaParams:
    """Maximum-likelihood (p, q, γ) from repeat buyers' x (> 0) and mean repeat spend m (> 0).

    Rows with x == 0 or m <= 0 are left out (they carry no spend information); raises
    ValueError when none is left."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size == 0:
        raise ValueError("Gamma-Gamma needs at least one repeat buyer with a positive spend")
    ux, ix, nx = np.unique(x, return_inverse=True, return_counts=True)
    w = np.ones(x.size)
    log_m = np.log(m)
    const = w @ log_m  # the -1 of (px - 1) log m
    args = (ux, nx.astype(float), ix.ravel(), x, log_m, None, x * m, w, const)
    start = np.log([1.0, 1.0, max(float(np.mean(m)), 1e-6)])
    result = minimize(_negative_ll_and_gradient, start, args=args,
                      jac=True, method="L-BFGS-B", bounds=[(-15, 20)] * 3,
                      options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9})
    p, q, v = (float(value) for value in np.exp(result.x))
    flat = float(np.max(np.abs(result.jac))) < 1e-4 * max(1.0, abs(float(result.fun)))
    return GammaGammaParams(p=p, q=q, gamma=v, log_likelihood=-float(result.fun),
                            customers=int(x.size), converged=bool(result.success or flat),
                            iterations=int(result.nit))


def conditional_expected_spend(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[M | x, m]: a weighted mean of the population mean γp/(q-1) and the customer's own
    mean m, weighted by px/(px+q-1). With x == 0 it is the population mean. Needs q > 1
    (otherwise the population mean is infinite); returns NaN then."""
    x = np.asarray(frequency, dtype=float)
    m = np.where(np.asarray(frequency) > 0, np.asarray(monetary, dtype=float), 0.0)
    p, q, v = params.p, params.q, params.gamma
    if q <= 1:
        return np.full(x.shape, np.nan)
    return p * (v + x * m) / (p * x + q - 1)
