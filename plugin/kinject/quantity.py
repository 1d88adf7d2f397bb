"""Kubernetes resource quantities: parsing and the canonical spelling Go's `resource.Quantity` writes.

Istio's goldens were re-serialised through Go structs, so `2000m` comes out as `"2"` and `1024Mi` as `1Gi`.
We reproduce that spelling so rendered resources look like the webhook's.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}


class QuantityError(ValueError):
    pass


def parse_quantity(text: object) -> tuple[Decimal, str]:
    """Return (exact value, format) where format is "binary", "decimal" or "exponent"."""
    if isinstance(text, bool):
        raise QuantityError(f"quantity {text!r} is not a number")
    if isinstance(text, (int, float)):
        text = repr(text) if isinstance(text, float) else str(text)
    if not isinstance(text, str):
        raise QuantityError(f"quantity {text!r} is not a string")
    match = _QUANTITY.match(text.strip()) if text == text.strip() else None
    if not match:
        raise QuantityError(f"quantity {text!r} does not match the Kubernetes quantity syntax (e.g. 100m, 1Gi)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise QuantityError(f"quantity {text!r} is not a number") from exc
    if suffix in _BINARY:
        return value * (Decimal(1024) ** _BINARY[suffix]), "binary"
    if suffix[:1] in ("e", "E"):
        return value.scaleb(int(suffix[1:])), "exponent"
    return value.scaleb(_DECIMAL[suffix]), "decimal"


def canonical_quantity(text: object) -> str:
    """Spell a quantity the way Go's resource.Quantity.String() does (`2000m` -> `2`, `1024Mi` -> `1Gi`)."""
    value, fmt = parse_quantity(text)
    if value == 0:
        return "0"
    if fmt == "binary" and value == value.to_integral_value() and abs(value) >= 1024:
        power = 0
        mantissa = int(value)
        while power < 6 and mantissa % 1024 == 0:
            mantissa //= 1024
            power += 1
        if power:
            return f"{mantissa}{[k for k, v in _BINARY.items() if v == power][0]}"
        return str(mantissa)
    # Decimal: the largest exponent (a multiple of 3, nano at least) that keeps an integer mantissa.
    # Go rounds values below nano precision up; we do the same.
    nanos = (value.scaleb(9)).to_integral_value(rounding="ROUND_CEILING")
    exponent = -9
    while exponent < 18 and nanos % 1000 == 0:
        nanos //= 1000
        exponent += 3
    mantissa = int(nanos)
    if fmt == "exponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
