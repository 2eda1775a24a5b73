"""channels.base.split_text: what the Telegram and Instagram senders send as one message each."""

from __future__ import annotations

from channels.base import split_text


def test_short_text_is_one_part() -> None:
    assert split_text("Terima kasih", 20) == ["Terima kasih"]


def test_long_text_splits_on_the_last_line_break_within_the_limit() -> None:
    assert split_text("aaaa\nbbb\ncccccc", 9) == ["aaaa\nbbb", "cccccc"]


def test_a_line_longer_than_the_limit_is_cut_hard() -> None:
    assert split_text("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
