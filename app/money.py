"""Money as strings in the currency's minor unit (ISO 4217), never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# Currencies whose minor unit is not 1/100.
EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XAF": 0, "XOF": 0,
             "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3}


def format_money(amount: Decimal | None, currency: str | None) -> str | None:
    if amount is None:
        return None
    exponent = EXPONENTS.get((currency or "").upper(), 2)
    quantum = Decimal(1).scaleb(-exponent)
    return str(Decimal(amount).quantize(quantum, rounding=ROUND_HALF_EVEN))
