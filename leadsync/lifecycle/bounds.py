"""Upper and lower bounds of the numeric settings in lifecycle.yaml (and its `portal:` section).

A number that passes `leadsync check` must work at run time: `token_ttl_hours: 99999999999` used to pass
and then fail every partner email with OverflowError. Each numeric setting is declared with `between`,
whose refusal names the allowed range; the loader prefixes the key path, so `leadsync check` prints e.g.
`web.token_ttl_hours: must be more than 0 and at most 8,760 (got 99999999999.0)`.
"""

from __future__ import annotations

import math

from pydantic import AfterValidator


def between(low: float, high: float, *, low_open: bool = False) -> AfterValidator:
    """A pydantic validator: low ≤ value ≤ high (low < value when `low_open`); None passes (optional
    settings say "off" with null). NaN and infinities are refused with the same message."""
    lower = f"more than {_number(low)}" if low_open else f"at least {_number(low)}"

    def check(value):
        if value is None:
            return value
        inside = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
        if not inside:
            raise ValueError(f"must be {lower} and at most {_number(high)} (got {value!r})")
        return value

    check.upper_bound = high  # read by tests/test_settings_bounds.py: this setting is bounded
    return AfterValidator(check)


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"
