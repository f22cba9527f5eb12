"""The source YAML's `schedule` is checked without Dagster (leadsync/config/cron.py): whatever it accepts,
Dagster's own check accepts too (else the code location would build a schedule Dagster refuses), and what it
refuses comes with a message naming the field."""

import pytest
from dagster._utils.schedules import is_valid_cron_string

from leadsync.config.cron import CronError, check_cron

ACCEPTED = ["*/30 * * * *", "0 9 * * mon-fri", "0 0 1 jan *", "@daily", "@hourly", "0 9-17/2 * * 1-5",
            "0,15,30 * * * *", "0 0 * * sun", "0 0 * JAN-MAR *", "0 0 * * 7", "0 0 * * 0-7", "5/15 * * * *",
            " 0  0 * * * ", "0 0 29 2 *", "0 0 31 2,4 *", "59 23 31 12 6"]
REFUSED = {
    "every hour": "it has 2 fields",
    "* * * *": "it has 4 fields",
    "0 0 * * * *": "it has 6 fields",
    "61 * * * *": "minute field's 61 is out of range; it takes 0 to 59",
    "0 24 * * *": "hour field's 24 is out of range",
    "0 0 0 * *": "day of month field's 0 is out of range; it takes 1 to 31",
    "0 0 * 13 *": "month field's 13 is out of range",
    "*/0 * * * *": "step '/0' never advances",
    "0 0 30 2 *": "February has no day 30",
    "0 0 30,31 feb *": "February has no day 30",
    "0 0 L * *": "day of month field's 'l' is not a number from 1 to 31",
    "0 0 * * 5#3": "day of week field's '5#3' is not a value, a range or a step",
    "0 0 * * jan": "day of week field's 'jan' is not a number from 0 to 7 or a name (sun, mon",
    "0 0 * * 5-1": "range '5-1' runs backwards",
    "@reboot": "it has 1 field,",
}


@pytest.mark.parametrize("expression", ACCEPTED)
def test_accepted_expressions_are_dagsters_too(expression):
    check_cron(expression)
    assert is_valid_cron_string(expression.strip())


@pytest.mark.parametrize("expression", REFUSED)
def test_refused_expressions_say_why(expression):
    with pytest.raises(CronError) as refused:
        check_cron(expression)
    assert REFUSED[expression] in str(refused.value)
    assert str(refused.value).startswith(f"'{expression}'")
