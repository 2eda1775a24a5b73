"""Realistic e-mails, generated (seeded) in the twenty shapes real mail to an office takes.

Declared and undeclared charsets, bad bytes, QP/base64, HTML only, inline images, attachments,
nested multiparts, forwards, Indonesian replies (Gmail, Outlook), auto-replies, bounces, broken
headers, no Message-ID, bulk mail. ``corpus(n)`` returns ``n`` of them, the shapes in equal parts,
in a seeded order; ``write_mbox`` writes them as one mbox file. Used by the mailbox-import tests
(``tests/integration/channels/test_email_import_batch.py``) and the e-mail benchmark
(``bench/bench_email.py``), as ``tests.fakeapi`` is by both.
"""

from __future__ import annotations

import base64
import datetime as dt
import mailbox
import quopri
import random
from collections.abc import Callable
from pathlib import Path

#: The office's address the mails are sent to.
OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"

_VOCABULARY = (
    "izin usaha bangunan gedung petugas loket antrean berkas persyaratan biaya retribusi sertifikat "
    "restoran reklame praktik bidan dokter sudah belum selesai lama sekali minggu bulan mohon bantuan "
    "informasi kejelasan pelayanan aplikasi oss error unggah dokumen tolong segera ditindaklanjuti "
    "kantor dpmptsp purwakarta mal pelayanan publik parkir toilet ruang tunggu ramah kasar"
)
WORDS = tuple(_VOCABULARY.split())
NAMES = (
    "Budi Santoso",
    "Siti Aminah",
    "André Wijaya",
    "Dewi Lestari",
    "Asep Sunandar",
    "Rina Marlina",
    "Hendra Gunawan",
    "Yetty Maranggi",
    "Ujang Saepudin",
    "Lina Herlina",
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _sentence(rng: random.Random, n: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _text(rng: random.Random) -> str:
    return "\n\n".join(_sentence(rng, rng.randint(8, 25)) for _ in range(rng.randint(1, 4)))


def _head(
    i: int,
    rng: random.Random,
    *,
    subject: str | None = None,
    sender: str | None = None,
    extra: str = "",
    msgid: bool = True,
) -> str:
    name = rng.choice(NAMES)
    local = name.lower().replace(" ", ".").replace("é", "e")
    from_ = sender or f"{name} <{local}.{i}@example.test>"
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=37 * i)
    lines = [
        f"From: {from_}",
        f"To: {OFFICE}",
        f"Subject: {subject or _sentence(rng, 5)}",
        f"Date: {when:%a, %d %b %Y %H:%M:%S +0000}",
    ]
    if msgid:
        lines.append(f"Message-ID: <bench-{i}-{rng.randrange(10**9)}@mail.example.test>")
    return "\n".join(lines) + ("\n" + extra.strip("\n") if extra.strip() else "") + "\n"


def _plain(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: 8bit\n\n" + _text(rng) + "\n"
    ).encode()


def _no_name(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, sender=f"warga{i}@example.test")
        + "Content-Type: text/plain; charset=us-ascii\n\n"
        + _text(rng)
        + "\n"
    ).encode()


def _latin1(i: int, rng: random.Random) -> bytes:
    body = quopri.encodestring((_text(rng) + " Café à Kéramat – 50€").encode("cp1252")).decode()
    return (
        _head(i, rng, subject="=?iso-8859-1?q?Pungutan_di_luar_tarif_=96_izin?=")
        + "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + body + "\n"
    ).encode()


def _cp1252_raw(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, subject="Berkas \x93hilang\x94 di loket")
        + "MIME-Version: 1.0\nContent-Type: text/plain\n"
        "Content-Transfer-Encoding: 8bit\n\n" + _text(rng) + " \x93kutipan\x94 \x96 biaya 50\x80\n"
    ).encode("latin-1")


def _bad_bytes(i: int, rng: random.Random) -> bytes:
    return (
        (
            _head(i, rng) + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        ).encode()
        + _text(rng).encode()
        + b" \xff\xfe \xc3\x28 "
        + _text(rng).encode()
        + b"\n"
    )


def _base64(i: int, rng: random.Random) -> bytes:
    body = base64.encodebytes(_text(rng).encode()).decode()
    subject = "=?UTF-8?B?" + base64.b64encode(_sentence(rng, 5).encode()).decode() + "?="
    return (
        _head(i, rng, subject=subject) + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\n" + body
    ).encode()


def _html_only(i: int, rng: random.Random) -> bytes:
    html = "<html><body>" + "".join(f"<p>{_sentence(rng)} <b>penting</b> &amp; segera</p>" for _ in range(3))
    html += '<p><a href="https://oss.example.test/p/1">tautan</a></p></body></html>'
    return (
        _head(i, rng) + "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(html.encode()).decode()
    ).encode()


def _inline_image(i: int, rng: random.Random) -> bytes:
    text = _text(rng)
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="A"\n\n--A\n'
        "Content-Type: text/plain; charset=utf-8\n\n" + text + "\n\n--A\nContent-Type: multipart/related; "
        'boundary="R"\n\n--R\nContent-Type: text/html; charset=utf-8\n\n<div>' + text + '<img src="cid:i1">'
        '</div>\n--R\nContent-Type: image/png; name="foto.png"\nContent-Disposition: inline; filename='
        '"foto.png"\nContent-Transfer-Encoding: base64\nContent-ID: <i1>\n\n'
        + base64.encodebytes(PNG).decode()
        + "\n--R--\n\n--A--\n"
    ).encode()


def _attachments(i: int, rng: random.Random) -> bytes:
    pdf = b"%PDF-1.4\n" + bytes(rng.randrange(256) for _ in range(rng.randint(2000, 20000))) + b"\n%%EOF\n"
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"\n\n--M\n'
        "Content-Type: text/plain; charset=utf-8\n\n" + _text(rng) + "\n\n--M\nContent-Type: application/"
        'octet-stream; name="surat.pdf"\nContent-Disposition: attachment; '
        'filename="..\\\\surat penolakan.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(pdf).decode() + "\n--M\n"
        "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''bukti%E2%80%93"
        "bayar.pdf\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(pdf[:3000]).decode()
        + "\n--M--\n"
    ).encode()


def _nested(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="L1"\n\n--L1\n'
        'Content-Type: multipart/related; boundary="L2"\n\n--L2\nContent-Type: multipart/alternative; '
        'boundary="L3"\n\n--L3\nContent-Type: text/plain; charset=utf-8\n\n' + _text(rng) + "\n\n--L3\n"
        "Content-Type: text/html; charset=utf-8\n\n<p>" + _sentence(rng) + "</p>\n--L3--\n\n--L2\n"
        "Content-Type: image/gif\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\n\n--L2--\n\n--L1\n"
        'Content-Type: text/plain; charset=utf-8; name="catatan.txt"\nContent-Disposition: attachment; '
        'filename="catatan.txt"\n\n' + _sentence(rng) + "\n--L1--\n"
    ).encode()


def _forward(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, subject="Fwd: " + _sentence(rng, 4)) + "MIME-Version: 1.0\nContent-Type: multipart/"
        'mixed; boundary="F"\n\n--F\nContent-Type: text/plain; charset=utf-8\n\n' + _text(rng) + "\n\n--F\n"
        "Content-Type: message/rfc822\n\nFrom: Sistem <noreply@perizinan.example.test>\nTo: a@example.test\n"
        f"Subject: Pemberitahuan\nMessage-ID: <sys-{i}@perizinan.example.test>\nContent-Type: text/plain; "
        "charset=utf-8\n\n" + _text(rng) + "\n\n--F--\n"
    ).encode()


def _reply_gmail(i: int, rng: random.Random) -> bytes:
    extra = (
        f"In-Reply-To: <aduan.{i}.x@dpmptsp.purwakartakab.go.id>\nReferences: <orig-{i}@example.test> "
        f"<aduan.{i}.x@dpmptsp.purwakartakab.go.id>"
    )
    quote = "\n".join("> " + _sentence(rng) for _ in range(3))
    return (
        _head(i, rng, subject=f"Re: Pengaduan Anda [PWK-2026-{i:06d}]", extra=extra)
        + "Content-Type: text/plain; charset=UTF-8\n\n"
        + _sentence(rng)
        + "\n\nSalam,\nBudi\n\n"
        f"Pada Sel, 10 Mar 2026 pukul 10.05 Pengaduan DPMPTSP <{OFFICE}> menulis:\n\n" + quote + "\n"
    ).encode()


def _reply_outlook(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            subject=f"RE: Pengaduan Anda [PWK-2026-{i:06d}]",
            extra=f"In-Reply-To: <aduan.{i}.y@dpmptsp.purwakartakab.go.id>",
        )
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + _sentence(rng)
        + "\n\nDikirim dari Outlook\n\n"
        + "_" * 32
        + f"\nDari: Pengaduan <{OFFICE}>\nDikirim: Rabu, 11 Maret 2026 10.00\nKepada: warga\n"
        "Subjek: Pengaduan Anda\n\n" + _text(rng) + "\n"
    ).encode()


def _auto_reply(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            subject="Otomatis: " + _sentence(rng, 3),
            extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All",
        )
        + "Content-Type: text/plain; charset=utf-8\n\n"
        "Saya sedang cuti sampai 20 Maret 2026.\n"
    ).encode()


def _bounce(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            sender="Mail Delivery System <MAILER-DAEMON@mx.example.test>",
            subject="Undelivered Mail Returned to Sender",
            extra="Auto-Submitted: auto-replied",
        )
        + 'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="D"\n\n'
        "--D\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--D\nContent-Type: message/"
        "delivery-status\n\nReporting-MTA: dns; mx.example.test\n\nFinal-Recipient: rfc822; x@example.test\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--D\nContent-Type: "
        f"text/rfc822-headers\n\nMessage-ID: <aduan.{i}.z@dpmptsp.purwakartakab.go.id>\nSubject: x\n\n--D--\n"
    ).encode()


def _broken_headers(i: int, rng: random.Random) -> bytes:
    return (
        f"From: Joko <joko.{i}@example.test>\nTo: <\nCc: a@[\nSubject: {_sentence(rng, 4)}\n"
        f"Date: Tue, 31 Feb 2026 99:99:99 +9999\nMessage-ID: <broken-{i}@example.test>\n"
        'Content-Type: text/plain; charset="x-unknown-charset"\n\n' + _text(rng) + "\n"
    ).encode()


def _no_msgid(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, msgid=False) + "Content-Type: text/plain; charset=utf-8\n\n" + _text(rng) + "\n"
    ).encode()


def _bulk(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, extra="Precedence: bulk\nList-Unsubscribe: <mailto:u@news.example.test>")
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + _text(rng)
        + "\n"
    ).encode()


def _unknown_charset(i: int, rng: random.Random) -> bytes:
    return (
        (
            _head(i, rng) + 'Content-Type: text/plain; charset="x-mac-indonesian"\n'
            "Content-Transfer-Encoding: 8bit\n\n"
        ).encode()
        + _text(rng).encode("cp1252")
        + b" \xe9\xe8\n"
    )


def _attachment_only(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="O"\n\n--O\n'
        'Content-Type: image/jpeg; name="foto.jpg"\nContent-Disposition: attachment; filename="foto.jpg"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"\xff\xd8\xff\xe0" + bytes(500)).decode()
        + "\n--O--\n"
    ).encode()


SHAPES: tuple[Callable[[int, random.Random], bytes], ...] = (
    _plain,
    _no_name,
    _latin1,
    _cp1252_raw,
    _bad_bytes,
    _base64,
    _html_only,
    _inline_image,
    _attachments,
    _nested,
    _forward,
    _reply_gmail,
    _reply_outlook,
    _auto_reply,
    _bounce,
    _broken_headers,
    _no_msgid,
    _bulk,
    _unknown_charset,
    _attachment_only,
)


def corpus(n: int, seed: int = 20261127) -> list[bytes]:
    """Return ``n`` mails, the shapes in equal parts, in a seeded order."""
    rng = random.Random(seed)
    mails = [SHAPES[i % len(SHAPES)](i, rng).replace(b"\n", b"\r\n") for i in range(n)]
    rng.shuffle(mails)
    return mails


def write_mbox(mails: list[bytes], path: Path) -> Path:
    """Write the mails as one mbox file, as Google Takeout exports a mailbox."""
    box = mailbox.mbox(path)
    for body in mails:
        box.add(body)
    box.flush()
    box.close()
    return path
