"""Cron expressions as the source YAML's `schedule` takes them, checked without Dagster.

Dagster validates a schedule's cron with its vendored croniter (dagster._utils.schedules), which is not a
dependency leadsync could import outside its Dagster layer, and no cron library is installed besides it.
So this is a small parse of the five-field form: every expression it accepts Dagster accepts as well
(tests/test_cron.py holds the two side by side), and the few croniter extensions it does not know (`L`, `W`,
`#`, `?`, `H`) are refused with a message saying so, rather than reaching Dagster as a schedule it rejects.
"""

from __future__ import annotations

import re

ALIASES = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, lowest, highest, names): day of week 7 is Sunday again, as in croniter
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, MONTHS),
          ("day of week", 0, 7, WEEKDAYS))
ITEM = re.compile(r"(?P<base>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?")


class CronError(ValueError):
    """Why a schedule is not a cron expression; its text is the whole message."""


def check_cron(expression: str) -> None:
    """Raise CronError naming the field and the fix when `expression` is not a cron expression."""
    text = expression.strip().lower()
    if text in ALIASES:
        return
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"'{expression}' is not a cron expression: it has {len(parts)} field{'' if len(parts) == 1 else 's'}, a cron expression "
                        f"has five (minute hour day-of-month month day-of-week, e.g. '*/30 * * * *') or is one of "
                        f"{', '.join(sorted(ALIASES))}")
    values = [_field(expression, part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    days, months = values[2], values[3]
    if months == {2} and days <= {30, 31}:
        raise CronError(f"'{expression}' is not a cron expression: February has no day {min(days)}, so it never fires")


def _field(expression: str, part: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values one field selects (a `*` selects the whole range)."""
    selected: set[int] = set()
    for item in part.split(","):
        match = ITEM.fullmatch(item)
        if not match:
            raise CronError(f"'{expression}': the {name} field's '{item}' is not a value, a range or a step "
                            f"(e.g. 5, 1-5, */15{', mon-fri' if names is WEEKDAYS else ''})")
        step = int(match["step"] or 1)
        if step == 0:
            raise CronError(f"'{expression}': the {name} field's step '/0' never advances; use /1 or more")
        if match["base"] == "*":
            first, last = low, high
        else:
            ends = [_value(expression, end, name, low, high, names) for end in match["base"].split("-")]
            first, last = ends[0], ends[-1] if len(ends) == 2 or match["step"] is None else high
            if first > last:
                raise CronError(f"'{expression}': the {name} field's range '{match['base']}' runs backwards; "
                                f"write it from the lower to the higher value")
        selected.update(range(first, last + 1, step))
    return selected


def _value(expression: str, text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        known = f" or a name ({', '.join(names)})" if names else ""
        raise CronError(f"'{expression}': the {name} field's '{text}' is not a number from {low} to {high}{known}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"'{expression}': the {name} field's {value} is out of range; it takes {low} to {high}")
    return value
