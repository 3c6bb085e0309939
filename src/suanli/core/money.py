"""Money in integer fen (1 CNY = 100 fen). Never float.

Rounding is ROUND_HALF_UP to the fen, done once, at the point a fen amount is produced.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_CNY = 100


def fen_to_cny(fen: int) -> Decimal:
    """12345 -> Decimal('123.45')"""
    return (Decimal(fen) / FEN_PER_CNY).quantize(Decimal("0.01"))


def format_cny(fen: int) -> str:
    """12345 -> '¥123.45'"""
    return f"¥{fen_to_cny(fen):,}"


def cny_to_fen(amount: Decimal | int | str) -> int:
    """Decimal('60') -> 6000. Rejects amounts finer than a fen rather than rounding them silently."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a finite amount of money")
    fen = value * FEN_PER_CNY
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} CNY has more than two decimal places")
    return int(fen)


def round_fen(value: Decimal) -> int:
    """A Decimal number of fen rounded half-up to a whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def scale_fen(fen: int, percent: Decimal) -> int:
    """``fen`` changed by ``percent`` (``Decimal("5")`` is 5 % more, ``Decimal("-10")`` 10 % less), rounded half-up
    to a whole fen and never below 1 fen (a price is never free)."""
    return max(1, round_fen(Decimal(fen) * (Decimal(100) + percent) / Decimal(100)))
