"""Kubernetes resource quantities ("250m", "1.5", "300Mi", "8Gi", "1e3", "500M"), as k8s.io/apimachinery/pkg/api/resource.

parse_quantity gives the value as a float (cores for CPU, bytes for memory); the
format_* functions write values back the way the apiserver and metrics-server do.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60}
_DECIMAL = {'n': Decimal('1e-9'), 'u': Decimal('1e-6'), 'm': Decimal('1e-3'), '': Decimal(1), 'k': Decimal('1e3'),
            'M': Decimal('1e6'), 'G': Decimal('1e9'), 'T': Decimal('1e12'), 'P': Decimal('1e15'), 'E': Decimal('1e18')}
# <signedNumber><suffix>; the suffix is binary SI, decimal SI or an exponent (e3, E-2). "1E" alone is exa.
_QUANTITY = re.compile(r'^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))((?:[eE][+-]?[0-9]+)|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$')


class QuantityError(ValueError):
    """Text that is not a quantity; the message is the apiserver's."""


def parse_decimal(value: str | int | float) -> Decimal:
    """A quantity as an exact Decimal."""
    if isinstance(value, bool):
        raise QuantityError('quantities must match the regular expression '
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise QuantityError('quantities must match the regular expression '
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regular expression rules this out
        raise QuantityError(f'invalid quantity {value!r}') from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix[:1] in ('e', 'E') and len(suffix) > 1:
        return base.scaleb(int(suffix[1:]))
    return base * _DECIMAL[suffix]


def parse_quantity(value: str | int | float | None, default: float = 0.0) -> float:
    """A quantity's value: "250m" -> 0.25, "300Mi" -> 314572800.0; None or "" -> default."""
    if value is None or value == '':
        return default
    return float(parse_decimal(value))


def parse_cpu(value: str | int | float | None, default: float = 0.0) -> float:
    """CPU in cores: "250m" -> 0.25, "2" -> 2.0."""
    return parse_quantity(value, default)


def parse_memory(value: str | int | float | None, default: float = 0.0) -> float:
    """Memory in bytes: "300Mi" -> 314572800.0, "1G" -> 1e9."""
    return parse_quantity(value, default)


def millicores(value: str | int | float | None) -> int:
    """CPU rounded up to whole millicores, as the scheduler counts it ("0.1" -> 100)."""
    return math.ceil(parse_decimal(value or 0) * 1000)


def format_cpu(cores: float) -> str:
    """Cores as a canonical CPU quantity: 0.25 -> "250m", 2 -> "2", 0.0005 -> "1m" (rounded up to a millicore)."""
    milli = math.ceil(round(cores * 1000, 6))
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f'{milli}m'


def format_nanocores(cores: float) -> str:
    """Cores as metrics-server writes them: "12345678n"."""
    return f'{max(0, round(cores * 1e9))}n'


def format_memory(num_bytes: float) -> str:
    """Bytes as a canonical binary-SI quantity: the largest suffix that divides exactly.

    314572800 -> "300Mi", 1610612736 -> "1536Mi", 1000 -> "1000".
    """
    value = int(math.ceil(num_bytes))
    if value == 0:
        return '0'
    for suffix in ('Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'):
        unit = _BINARY[suffix]
        if value % unit == 0:
            return f'{value // unit}{suffix}'
    return str(value)


def format_memory_approx(num_bytes: float) -> str:
    """Bytes rounded to whole Mi (or Ki below a MiB), for usage figures such as metrics: "34Mi"."""
    if num_bytes >= 2 ** 20:
        return f'{round(num_bytes / 2 ** 20)}Mi'
    return f'{max(0, round(num_bytes / 2 ** 10))}Ki'


def format_decimal(value: float) -> str:
    """A plain count or decimal-SI value: 3 -> "3", 1500 -> "1500", 0.5 -> "500m"."""
    if float(value).is_integer():
        return str(int(value))
    return format_cpu(value)
