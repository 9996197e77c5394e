"""Fit `lifetimes`' BG/NBD and Gamma-Gamma to a summary read as JSON on stdin; print JSON.

Run by `benchmarks/analytics_cdnow.py` with the Python of the benchmark's own venv (where
`lifetimes==0.11.3` is installed), never imported by the project: the project does not
depend on `lifetimes`. Input: {"frequency", "recency", "T", "gg_frequency", "gg_monetary",
"repeat"}; output: each model's parameters, log-likelihood (lifetimes' own formula at its
parameters, on the unscaled data: `fit` minimises over rescaled time) and the best of
`repeat` fit times in seconds (import and data conversion not included).
"""

import json
import sys
import time


def main() -> None:
    import numpy as np
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    data = json.load(sys.stdin)
    x = np.asarray(data["frequency"], dtype=float)
    t_x = np.asarray(data["recency"], dtype=float)
    big_t = np.asarray(data["T"], dtype=float)
    gx = np.asarray(data["gg_frequency"], dtype=float)
    gm = np.asarray(data["gg_monetary"], dtype=float)
    repeat = int(data.get("repeat", 3))

    bg_times, gg_times = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        bgf = BetaGeoFitter(penalizer_coef=0.0).fit(x, t_x, big_t)
        bg_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        ggf = GammaGammaFitter(penalizer_coef=0.0).fit(gx, gm)
        gg_times.append(time.perf_counter() - started)
    bg = {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")}
    ones = np.ones_like(x)
    bg_nll = BetaGeoFitter._negative_log_likelihood(
        np.log([bg["r"], bg["alpha"], bg["a"], bg["b"]]), x, t_x, big_t, ones, 0.0)
    gg = {"p": float(ggf.params_["p"]), "q": float(ggf.params_["q"]),
          "gamma": float(ggf.params_["v"])}
    gg_nll = GammaGammaFitter._negative_log_likelihood(
        np.log([gg["p"], gg["q"], gg["gamma"]]), gx, gm, np.ones_like(gx), 0.0)
    import lifetimes
    import pandas
    import scipy

    json.dump({
        "versions": {"lifetimes": lifetimes.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "pandas": pandas.__version__,
                     "python": sys.version.split()[0]},
        "bgnbd": {**bg, "log_likelihood": float(-bg_nll * len(x)),
                  "seconds": min(bg_times), "all_seconds": bg_times},
        "gamma_gamma": {**gg, "log_likelihood": float(-gg_nll * len(gx)),
                        "seconds": min(gg_times), "all_seconds": gg_times},
    }, sys.stdout)


if __name__ == "__main__":
    main()
