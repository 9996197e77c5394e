"""The CDNOW half of the analytics benchmark: Sticky's BG/NBD and Gamma-Gamma fits next to
`lifetimes`' fits of the same summary, in the same run.

The data is the CDNOW sample (2,357 customers who first bought in the first quarter of 1997;
Fader, Hardie & Lee 2005) as the `lifetimes` 0.11.3 wheel ships it
(`lifetimes/datasets/CDNOW_sample.txt`), read straight from the wheel: its loaders fail on
current setuptools. `lifetimes` is installed only for the benchmark, in a venv of its own
(`instance/bench-lifetimes-venv`, made once and reused), and its fits run there in a
subprocess (`benchmarks/lifetimes_fit.py`). The summary is built once, here, and the same
arrays go to both sides. Importing this module has no side effects.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIFETIMES = "lifetimes==0.11.3"
VENV = ROOT / "instance" / "bench-lifetimes-venv"
CALIBRATION_END = date(1997, 9, 30)  # the end of week 39, as in the paper
AGREE = 5e-4  # "the same to three decimals": every parameter within half a unit of the third
PUBLISHED = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
                       "log_likelihood": -9582.4},
             "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44}}


def _run(args: list[str], what: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({' '.join(args)}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def lifetimes_venv(venv: Path = VENV, say=print) -> tuple[Path, Path]:
    """(the venv's python, the lifetimes wheel): made on the first run, reused after."""
    python, ready = venv / "bin" / "python", venv / "ready"
    wheels = venv / "wheel"
    if ready.exists() and ready.read_text().strip() == LIFETIMES:
        return python, next(wheels.glob("*.whl"))
    say(f"making {venv} with {LIFETIMES} (once) ...")
    started = time.perf_counter()
    _run([sys.executable, "-m", "venv", "--clear", str(venv)], "making the venv")
    _run([str(python), "-m", "pip", "install", "-q", LIFETIMES], f"pip install {LIFETIMES}")
    _run([str(python), "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), LIFETIMES],
         "pip download")
    probe = "import lifetimes; from lifetimes import BetaGeoFitter, GammaGammaFitter"
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        # lifetimes 0.11.3 (2020) on today's numpy/pandas/scipy: fall back to their last
        # releases that it was written for.
        _run([str(python), "-m", "pip", "install", "-q", "numpy<2", "pandas<2", "scipy<1.12"],
             "pinning numpy<2, pandas<2, scipy<1.12")
        _run([str(python), "-c", probe], "importing lifetimes")
    ready.write_text(LIFETIMES + "\n")
    say(f"  made in {time.perf_counter() - started:.0f} s")
    return python, next(wheels.glob("*.whl"))


def read_transactions(wheel: Path) -> list[tuple[int, date, float]]:
    """(customer, day, amount) of every line of CDNOW_sample.txt in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read("lifetimes/datasets/CDNOW_sample.txt").decode()
    rows = []
    for line in raw.splitlines():
        if line.strip():
            _, customer, day, _, amount = line.split()
            rows.append((int(customer), date(int(day[:4]), int(day[4:6]), int(day[6:])),
                         float(amount)))
    return rows


def summary(rows, end: date = CALIBRATION_END) -> dict[str, list]:
    """The calibration summary, per customer in id order: frequency (repeat purchase days),
    recency and T in weeks (last and calibration end minus first purchase day), and for the
    Gamma-Gamma model the repeat buyers' frequency and mean repeat-day value (a day's lines
    added up; the first purchase left out, as in the paper)."""
    days: dict[int, dict[date, float]] = {}
    for customer, day, amount in rows:
        if day <= end:
            spent = days.setdefault(customer, {})
            spent[day] = spent.get(day, 0.0) + amount
    out: dict[str, list] = {"customer": [], "frequency": [], "recency": [], "T": [],
                            "gg_frequency": [], "gg_monetary": []}
    for customer in sorted(days):
        ordered = sorted(days[customer])
        first, x = ordered[0], len(ordered) - 1
        out["customer"].append(customer)
        out["frequency"].append(x)
        out["recency"].append((ordered[-1] - first).days / 7)
        out["T"].append((end - first).days / 7)
        if x > 0:
            out["gg_frequency"].append(x)
            out["gg_monetary"].append(sum(days[customer][d] for d in ordered[1:]) / x)
    return out


def published_summary_differences(wheel: Path, data: dict[str, list]) -> int:
    """Customers whose (x, t_x, T, zbar) differ from the summary `lifetimes` ships
    (cdnow_customers_summary_with_transactions.csv, 2 decimals): 0 when ours is the paper's."""
    with zipfile.ZipFile(wheel) as archive:
        lines = archive.read(
            "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv").decode().split()
    theirs = {int(f[0]): [float(v) for v in f[1:]] for f in (ln.split(",") for ln in lines[1:])}
    repeat = iter(data["gg_monetary"])
    differ = len(theirs) - len(data["customer"])
    for i, customer in enumerate(data["customer"]):
        x = data["frequency"][i]
        ours = [x, data["recency"][i], data["T"][i], next(repeat) if x else 0.0]
        shipped = theirs.get(customer)
        if shipped is None or any(abs(a - b) > 0.006 for a, b in zip(ours, shipped, strict=True)):
            differ += 1
    return abs(differ)


def fit_lifetimes(python: Path, data: dict[str, list], repeat: int) -> dict:
    payload = json.dumps({**{k: data[k] for k in ("frequency", "recency", "T", "gg_frequency",
                                                  "gg_monetary")}, "repeat": repeat})
    done = subprocess.run([str(python), str(Path(__file__).with_name("lifetimes_fit.py"))],
                          input=payload, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"lifetimes' fit failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def fit_sticky(data: dict[str, list], repeat: int) -> dict:
    """Sticky's own fits of the same arrays (best of `repeat`)."""
    import numpy as np

    from app.predictions import bgnbd, gamma_gamma

    x, t_x, big_t = (np.asarray(data[k], dtype=float) for k in ("frequency", "recency", "T"))
    gx, gm = np.asarray(data["gg_frequency"], float), np.asarray(data["gg_monetary"], float)
    bg_times, gg_times = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        bg = bgnbd.fit(x, t_x, big_t)
        bg_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        gg = gamma_gamma.fit(gx, gm)
        gg_times.append(time.perf_counter() - started)
    return {"bgnbd": {"r": float(bg.r), "alpha": float(bg.alpha), "a": float(bg.a),
                      "b": float(bg.b), "log_likelihood": float(bg.log_likelihood),
                      "seconds": min(bg_times), "all_seconds": bg_times},
            "gamma_gamma": {"p": float(gg.p), "q": float(gg.q), "gamma": float(gg.gamma),
                            "log_likelihood": _maybe_float(getattr(gg, "log_likelihood", None)),
                            "seconds": min(gg_times), "all_seconds": gg_times}}


def _maybe_float(value) -> float | None:
    return None if value is None else float(value)


def agreement(sticky: dict, theirs: dict) -> dict[str, dict]:
    """Per model: the largest parameter difference and whether every one is within AGREE."""
    out = {}
    for model, names in (("bgnbd", ("r", "alpha", "a", "b")), ("gamma_gamma", ("p", "q", "gamma"))):
        worst = max(abs(sticky[model][n] - theirs[model][n]) for n in names)
        out[model] = {"max_difference": worst, "agree_3_decimals": worst < AGREE,
                      "speed_ratio": sticky[model]["seconds"] / theirs[model]["seconds"]}
    return out


def run(repeat: int, say=print) -> dict:
    """The whole CDNOW comparison; `say` hears the report's lines."""
    python, wheel = lifetimes_venv(say=say)
    data = summary(read_transactions(wheel))
    repeaters = len(data["gg_frequency"])
    differ = published_summary_differences(wheel, data)
    say(f"CDNOW sample ({wheel.name}): {len(data['customer']):,} customers, "
        f"{sum(data['frequency']):,} repeat purchase days to {CALIBRATION_END} (weeks), "
        f"{repeaters} repeat buyers; summary = the one lifetimes ships: "
        + ("yes" if differ == 0 else f"NO ({differ} customers differ)"))
    theirs = fit_lifetimes(python, data, repeat)
    versions = ", ".join(f"{k} {v}" for k, v in theirs["versions"].items())
    ours = fit_sticky(data, repeat)
    result = {"customers": len(data["customer"]), "repeat_buyers": repeaters,
              "summary_matches_published": differ == 0, "lifetimes": theirs, "sticky": ours,
              "published": PUBLISHED, "repeat": repeat}
    say(f"lifetimes venv: {versions}; best of {repeat} fits each")
    rows = [("BG/NBD", "bgnbd", ("r", "alpha", "a", "b", "log_likelihood")),
            ("Gamma-Gamma", "gamma_gamma", ("p", "q", "gamma", "log_likelihood"))]
    for label, model, names in rows:
        say(f"  {label:<12} {'':<10} {'seconds':>8}  " + "".join(f"{n:>15}" for n in names))
        for side, fitted in (("sticky", ours[model]), ("lifetimes", theirs[model])):
            say(f"  {'':<12} {side:<10} {fitted['seconds']:8.3f}  " + "".join(
                f"{fitted[n]:>15.4f}" if fitted.get(n) is not None else f"{'-':>15}"
                for n in names))
        say(f"  {'':<12} {'paper':<10} {'':>8}  "
            + "".join(f"{PUBLISHED[model].get(n, '-'):>15}" for n in names))
    result["agreement"] = agreement(ours, theirs)
    for model, verdict in result["agreement"].items():
        met = verdict["speed_ratio"] <= 1 and verdict["agree_3_decimals"]
        say(f"  {model}: sticky / lifetimes time {verdict['speed_ratio']:.2f}; parameters "
            f"agree to 3 decimals: {'yes' if verdict['agree_3_decimals'] else 'NO'} "
            f"(largest difference {verdict['max_difference']:.2e}); aim (as fast, same "
            f"parameters): {'met' if met else 'MISSED'}")
    return result
