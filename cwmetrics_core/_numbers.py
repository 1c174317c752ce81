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
from numbers import Real
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
        MetricTypeError: not a real number, or a bool.
        InvalidMetricError: a signalling ``Decimal('sNaN')``, which float() refuses.
    """
    if isinstance(value, bool) or not isinstance(value, NUMBER_TYPES):
        raise MetricTypeError(field, value, _NUMBER_REASON)
    try:
        return float(value)
    except OverflowError:  # e.g. 10**400: beyond float, and beyond CloudWatch's range
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    except ValueError:  # Decimal('sNaN')
        raise InvalidMetricError(
            field, value, "NaN and infinity are not accepted by CloudWatch"
        ) from None


def _is_nan_or_inf(value: object) -> bool:
    # Compared on the original: 10**400 and Decimal('1e400') are finite, only too large.
    return bool(value != value or value in (math.inf, -math.inf))  # noqa: PLR0124


def bad_value(field: str, value: object) -> NoReturn:
    """Raise the error for a value outside CloudWatch's accepted range.

    ``value`` is the caller's original number (an int, Decimal... is reported as given).
    """
    if _is_nan_or_inf(value):
        raise InvalidMetricError(field, value, "NaN and infinity are not accepted by CloudWatch")
    if abs(value) > MAX_VALUE:  # type: ignore[arg-type]
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
        if v == 0.0 and value != 0:
            bad_value(field, value)
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
        if c > 0.0 and not _is_nan_or_inf(count):
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
    if resolution not in STORAGE_RESOLUTIONS:
        raise InvalidMetricError("StorageResolution", resolution, "must be 1 or 60 (seconds)")
    return 1 if resolution == 1 else 60
