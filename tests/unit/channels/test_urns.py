"""Phone numbers to URNs: the E.164 shortcut for Indonesian numbers gives what ``phonenumbers`` gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import urns
from channels.urns import InvalidContact


def _library(number: str) -> str | None:
    """The library's answer (or None when it refuses the number)."""
    try:
        return urns._parsed_e164(number.strip(), urns.DEFAULT_REGION)
    except InvalidContact:
        return None


def _ours(number: str) -> str | None:
    urns.e164.cache_clear()
    try:
        return urns.e164(number)
    except InvalidContact:
        return None


@settings(max_examples=600, deadline=None)
@given(st.from_regex(r"\A\+62[0-9]{0,19}\Z"))
def test_r2e_e164_shortcut_agrees_with_phonenumbers_on_every_plus62_number(number: str) -> None:
    assert _ours(number) == _library(number)


@pytest.mark.parametrize(
    "number",
    [
        "+6281809898222",  # the office's number in the standard (R2e/R2f)
        "+62812345",  # seven digits after 62: the shortest the shortcut takes
        "+6212345678901234567",  # seventeen: the longest
        "+620818123456",  # a national 0 after the country code: the library strips it
        "+62 818 0989 8222",  # spaced: the library normalises it
        "081809898222",
        "6281809898222",
    ],
)
def test_r2e_notations_of_the_office_number(number: str) -> None:
    assert _ours(number) == _library(number)
    assert _ours(number) is not None
