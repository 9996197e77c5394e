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


# Currencies written with a symbol before the amount (as the Shopify admin shows a store's
# own currency); any other is written as "1,234.50 SEK".
SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "SGD": "$", "HKD": "$",
           "MXN": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹",
           "KRW": "₩", "BRL": "R$", "ZAR": "R"}


def money_text(amount: Decimal | str | None, currency: str | None) -> str:
    """An amount as a person reads it: "$1,234.50", "-€5.00", "1,234.50 SEK"; "—" for none."""
    if amount is None:
        return "—"
    try:
        value = Decimal(amount)
    except (ArithmeticError, ValueError):
        return "—"
    if not value.is_finite():
        return "—"
    code = (currency or "").upper()
    exponent = EXPONENTS.get(code, 2)
    number = f"{abs(value):,.{exponent}f}"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}".rstrip()
