"""Numbers: which types are accepted, and the range checks CloudWatch imposes.

One verdict per input, wherever it is checked: every ``numbers.Real`` (int, float,
``fractions.Fraction``, numpy's integer and floating scalars) and ``decimal.Decimal`` are
accepted for values, counts, statistic values, timestamps and storage resolutions; ``bool``
(and ``numpy.bool_``) never is. Ranges are checked on the number as given, so ``10**400``
is reported as too large rather than as the ``inf`` float() would make of it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Integral, Real
from typing import NoReturn

from ._errors import InvalidMetricError, MetricTypeError
from ._limits import MAX_VALUE, MIN_NONZERO_VALUE, STORAGE_RESOLUTIONS

__all__ = [
    "NUMBER_TYPES",
    "as_number",
    "bad_value",
    "check_count",
    "check_storage_resolution",
    "check_value",
]

#: The numeric types accepted wherever CloudWatch takes a number: every ``numbers.Real``
#: (int, float, fractions.Fraction, numpy's integer and floating scalars...) and
#: ``decimal.Decimal``, but never ``bool`` (nor ``numpy.bool_``, which is no Real).
NUMBER_TYPES = (Real, Decimal)
_NUMBER_REASON = "must be a real number (int, float, Fraction, Decimal, numpy scalar), not bool"


def as_number(field: str, value: object) -> float:
    """Coerce a real number (see :data:`NUMBER_TYPES`; not bool, not str) to float.

    A magnitude beyond float's range (``10**400``) becomes ``±inf``; callers that check a
    range report the original value (see :func:`bad_value`).

    Raises:
        MetricTypeError: not a real number, a bool, or a signalling ``Decimal('sNaN')``
            (which float() refuses).
    """
    if isinstance(value, bool) or not isinstance(value, NUMBER_TYPES):
        raise MetricTypeError(field, value, _NUMBER_REASON)
    return _to_float(field, value)


def _to_float(field: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # e.g. 10**400: beyond float, and beyond CloudWatch's range
        return -math.inf if _compares(value, "lt", 0) else math.inf
    except ValueError:  # Decimal('sNaN'): not even float() takes it
        raise MetricTypeError(
            field, value, "a signalling NaN is no number; CloudWatch accepts no NaN"
        ) from None


def _compares(value: object, op: str, other: float) -> bool:
    """``value <op> other`` on the number as given, False when it cannot compare (a
    registered Real without the operators)."""
    try:
        return bool(value < other if op == "lt" else value == other)  # type: ignore[operator]
    except (TypeError, ValueError, ArithmeticError):
        return False


def bad_value(field: str, value: object) -> NoReturn:
    """Raise the error for a value outside CloudWatch's accepted range.

    ``value`` is the caller's number as given (an int, a Decimal... is reported as such,
    and judged as such: ``10**400`` and ``Decimal("1e400")`` are too large, not infinite).
    """
    v = value if value.__class__ is float else _to_float(field, value)
    assert isinstance(v, float)
    if math.isnan(v) or (math.isinf(v) and (v is value or _compares(value, "eq", v))):
        raise InvalidMetricError(field, value, "NaN and infinity are not accepted by CloudWatch")
    if abs(v) > MAX_VALUE:
        raise InvalidMetricError(
            field, value, "magnitude above 2**360: CloudWatch accepts -2**360..2**360"
        )
    raise InvalidMetricError(
        field, value, "non-zero magnitude below 2**-360, CloudWatch's minimum"
    )


def check_value(value: object, field: str = "Value") -> float:
    """Return ``value`` as a float CloudWatch accepts.

    Any :data:`NUMBER_TYPES` number is accepted. The range is checked on the number as
    given: ``10**400`` is too large (not ``inf``), and a non-zero number that float()
    rounds to 0 is too small.

    Raises:
        MetricTypeError: not a real number, or a bool.
        InvalidMetricError: NaN, infinite, |v| > 2**360, or 0 < |v| < 2**-360.
    """
    if value.__class__ is float:
        v: float = value
    else:
        v = as_number(field, value)
        if v == 0.0 and not isinstance(value, Integral) and not _compares(value, "eq", 0):
            bad_value(field, value)  # underflow: Fraction(1, 10**400), Decimal("1e-400")
    if not -MAX_VALUE <= v <= MAX_VALUE or (-MIN_NONZERO_VALUE < v < MIN_NONZERO_VALUE and v):
        bad_value(field, value)
    return v


def check_count(count: object, field: str = "Count") -> float:
    """Return a positive finite count as float (any :data:`NUMBER_TYPES` number).

    Raises:
        MetricTypeError: not a real number, or a bool.
        InvalidMetricError: NaN, infinite, zero or negative, or above 2**360 (``10**400``
            is reported as too large, not as infinite).
    """
    c = as_number(field, count)
    if not 0.0 < c <= MAX_VALUE:
        if c > MAX_VALUE and not (c == math.inf and _compares(count, "eq", c)):
            raise InvalidMetricError(
                field, count, "above 2**360: CloudWatch accepts counts up to 2**360"
            )
        raise InvalidMetricError(field, count, "must be finite and > 0 (and <= 2**360)")
    return c


def check_storage_resolution(resolution: object) -> int:
    """Return the storage resolution (1 or 60 seconds) as an int.

    Any :data:`NUMBER_TYPES` number equal to 1 or 60 is accepted (``60.0``,
    ``numpy.int64(60)``); ``True`` is not 1 here.

    Raises:
        MetricTypeError: not a real number, or a bool.
        InvalidMetricError: any other number.
    """
    if resolution.__class__ is int and resolution in STORAGE_RESOLUTIONS:
        return resolution
    if isinstance(resolution, bool) or not isinstance(resolution, NUMBER_TYPES):
        raise MetricTypeError(
            "StorageResolution", resolution, "must be 1 or 60 (seconds), a number, not bool"
        )
    number = int(resolution) if isinstance(resolution, Integral) else resolution
    if _compares(number, "eq", 1):
        return 1
    if _compares(number, "eq", 60):
        return 60
    raise InvalidMetricError("StorageResolution", resolution, "must be 1 or 60 (seconds)")
