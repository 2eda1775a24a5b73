"""A Maildir is imported in delivery order, so a reply never comes before the mail it answers."""

from __future__ import annotations

import mailbox
from pathlib import Path

from cli.mail_import import _keys


def test_mails_of_one_second_are_taken_in_the_order_they_were_delivered(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    # Python's and Dovecot's names: seconds, then M and the microseconds (not zero-padded), so as
    # text the mail delivered at .098765 would sort after the one delivered at .123456.
    names = ["1764671231.M123456P7Q3.host", "1764671230.M999999P7Q1.host", "1764671231.M98765P7Q2.host"]
    for name in names:
        (tmp_path / "Maildir" / "cur" / f"{name}:2,S").write_bytes(b"Subject: x\n\nx\n")
    assert _keys(box, "maildir") == [
        "1764671230.M999999P7Q1.host",
        "1764671231.M98765P7Q2.host",
        "1764671231.M123456P7Q3.host",
    ]
