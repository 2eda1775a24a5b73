"""Staff commands: ``aduan user add|passwd``, ``aduan token add|list|revoke`` and ``aduan demo``.

``aduan demo`` is idempotent: it creates the administrator ``admin`` and prints its generated
password only when it creates it, a few demo staff of every role, and a handful of sample
complaints filed through ``intake.ingest.file_complaint`` like any other.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer

from cli.app import app, container_of, echo_json, fail
from intake import roles

#: ``inbox.auth.TOKEN_DAYS`` (not imported at start-up; a test checks they agree).
TOKEN_DAYS = 90

user_app = typer.Typer(help="Akun petugas (staff accounts).", no_args_is_help=True)
token_app = typer.Typer(help="Token API untuk integrasi (API tokens).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

#: Demo staff: username, full name, role, superior's username (the R7a ladder).
DEMO_STAFF: tuple[tuple[str, str, str, str | None], ...] = (
    ("kepala", "Dra. Hj. Sri Wahyuni (Kepala DPMPTSP)", roles.HEAD, None),
    ("kabid", "Agus Setiawan (Kepala Bidang)", roles.DIVISION_HEAD, "kepala"),
    ("kasi", "Rina Marlina (Kepala Seksi)", roles.SECTION_HEAD, "kabid"),
    ("petugas1", "Dedi Kurniawan (Pelaksana)", roles.OFFICER, "kasi"),
    ("petugas2", "Siti Nurhaliza (Pelaksana)", roles.OFFICER, "kasi"),
    ("penghubung", "Yusuf Hidayat (Penghubung Dinas PUPR)", roles.LIAISON, None),
    ("auditor", "Inspektorat Kabupaten (APIP)", roles.AUDITOR, None),
)

#: Sample complaints of the demo office (fake people, example.test addresses, +62812… numbers).
DEMO_COMPLAINTS: tuple[dict[str, str | bool], ...] = (
    {
        "channel": "walkin",
        "name": "Budi Santoso",
        "contact": "tel:+6281234560001",
        "text": "Izin PBG rumah saya belum keluar sudah 3 bulan, padahal berkas lengkap.",
    },
    {
        "channel": "phone",
        "name": "Ani Rahmawati",
        "contact": "mailto:ani.rahmawati@example.test",
        "text": "Petugas loket meminta biaya tambahan untuk percepatan izin usaha.",
    },
    {
        "channel": "letter",
        "name": "CV Maju Jaya",
        "contact": "tel:+6281234560002",
        "text": "Sertifikat laik fungsi salah ketik nama perusahaan, mohon diperbaiki.",
    },
    {"channel": "mpp", "name": "", "contact": "", "text": "Ruang tunggu MPP panas, AC tidak menyala."},
    {
        "channel": "box",
        "name": "Warga Jatiluhur",
        "contact": "",
        "anonymous": True,
        "text": "Ada pungutan liar di loket perizinan ternak, mohon ditindak.",
    },
)


def _read_password(password_stdin: bool) -> tuple[str, bool]:
    """Return the password from stdin, or a generated one (and whether it was generated)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from inbox import auth

    if password_stdin:
        value = sys.stdin.readline().rstrip("\n")
        if not value:
            fail("no password on stdin")
        return value, False
    return auth.generate_password(), True


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Nama pengguna (username).")],
    role: Annotated[str, typer.Option("--role", help=f"Peran (role): {', '.join(roles.ROLES)}.")],
    full_name: Annotated[str, typer.Option("--full-name", help="Nama lengkap (full name).")] = "",
    superior: Annotated[
        str | None, typer.Option("--superior", help="Atasan langsung (superior's username).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Baca kata sandi dari stdin.")
    ] = False,
    office: Annotated[
        str,
        typer.Option(
            "--office",
            help="Kantor (office code; default: the primary office). 'province' or '*': the whole "
            "province, for auditor and admin only.",
        ),
    ] = "",
) -> None:
    """Buat akun petugas (create a staff account; prints a generated password once)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from inbox import auth
    from intake import db
    from intake.models import User

    if role not in roles.ROLES:
        fail(str(roles.UnknownRole(role)))
    office = office.strip().lower()
    office = roles.PROVINCE if office == "province" else office
    container = container_of(ctx)
    try:
        roles.check_office(role, office, list(container.offices))
    except ValueError as exc:
        fail(str(exc))
    password, generated = _read_password(password_stdin)
    with db.write_session(container.engine) as s:
        boss_id = None
        if superior:
            boss = s.exec(select(User).where(User.username == superior)).first()
            if boss is None:
                fail(f"no user {superior!r} to report to")
            boss_id = boss.id
        try:
            auth.create_user(
                s,
                username=name,
                role=role,
                password=password,
                full_name=full_name,
                superior_id=boss_id,
                office=office,
                known_offices=list(container.offices),
            )
        except ValueError as exc:
            fail(str(exc))
    where = "the province" if office == roles.PROVINCE else (office or container.primary.code)
    typer.echo(f"user {name} ({role}, {where}) created")
    if generated:
        typer.echo(f"password (shown once): {password}")


@user_app.command("passwd")
def user_passwd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Nama pengguna (username).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Baca kata sandi dari stdin.")
    ] = False,
) -> None:
    """Ganti kata sandi dan buka kunci akun (set a new password, unlock; ends old sessions)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from inbox import auth
    from intake import db
    from intake.models import User

    password, generated = _read_password(password_stdin)
    if len(password) < 8:
        fail("password must have at least 8 characters")
    container = container_of(ctx)
    with db.write_session(container.engine) as s:
        user = s.exec(select(User).where(User.username == name)).first()
        if user is None:
            fail(f"no user {name!r}")
        user.password_hash = auth.hash_password(password)
        user.failed_logins, user.locked_until = 0, None
        s.add(user)
        revoked = auth.revoke_tokens(s, user=user, now=container.now())  # they go with the old password
    typer.echo(f"password of {name} changed" + (f"; {revoked} API token(s) revoked" if revoked else ""))
    if generated:
        typer.echo(f"password (shown once): {password}")


@token_app.command("add")
def token_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Nama pengguna pemilik token (the token acts as this user).")],
    label: Annotated[
        str, typer.Option("--label", help="Untuk apa (what the integration is).")
    ] = "integration",
    days: Annotated[
        int, typer.Option("--days", min=0, help="Berlaku berapa hari (days valid; 0 = never expires).")
    ] = TOKEN_DAYS,
) -> None:
    """Buat token API (create an API token; printed once, only its hash is stored)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from inbox import auth
    from intake import db
    from intake.models import User

    container = container_of(ctx)
    with db.write_session(container.engine) as s:
        user = s.exec(select(User).where(User.username == name)).first()
        if user is None:
            fail(f"no user {name!r}")
        token = auth.create_token(s, user=user, name=label, now=container.now(), days=days or None)
    typer.echo(token)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Daftar token API (list API tokens: id, owner, label, dates, state; never the token)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from inbox import auth
    from inbox.models import ApiToken
    from intake import db
    from intake.models import User

    container = container_of(ctx)
    now = container.now()
    with db.session(container.engine) as s:
        names = {u.id: u.username for u in s.exec(select(User))}
        rows = s.exec(select(ApiToken).order_by(ApiToken.id)).all()  # type: ignore[arg-type]
        items = [
            {
                "id": r.id,
                "user": names.get(r.user_id, f"#{r.user_id}"),
                "label": r.name,
                "created_at": r.created_at.isoformat(),
                "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                "state": auth.token_state(r, now),
            }
            for r in rows
        ]
    if as_json:
        echo_json(items)
        return
    for i in items:
        typer.echo(
            f"{i['id']}\t{i['user']}\t{i['label']}\t{i['state']}\texpires {i['expires_at'] or 'never'}"
            f"\tlast used {i['last_used_at'] or 'never'}"
        )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="Nomor token (id from `token list`).")]
) -> None:
    """Cabut token API (revoke an API token; it stops working at once)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from inbox.models import ApiToken
    from intake import db

    container = container_of(ctx)
    with db.write_session(container.engine) as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            fail(f"no API token {token_id}")
        if row.revoked_at is None:
            row.revoked_at = container.now()
            s.add(row)
    typer.echo(f"token {token_id} revoked")


@app.command()
def demo(ctx: typer.Context) -> None:
    """Siapkan kantor demo (demo admin, staff and sample complaints; safe to run again)."""
    container = container_of(ctx)
    lines = load_demo(container)
    for line in lines:
        typer.echo(line)


def load_demo(container: object) -> list[str]:
    """Create what ``aduan demo`` creates, when missing; return the lines to print."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from app.container import Container
    from inbox import auth
    from intake import db
    from intake.ingest import file_complaint
    from intake.models import Complaint, User

    assert isinstance(container, Container)
    lines: list[str] = []
    now = container.now()
    with db.write_session(container.engine) as s:
        if s.exec(select(User).where(User.username == "admin")).first() is None:
            password = auth.generate_password()
            auth.create_user(
                s, username="admin", role=roles.ADMIN, password=password, full_name="Administrator"
            )
            lines.append(
                f"demo administrator: admin / {password}   (shown once; `aduan user passwd admin` resets)"
            )
        staff_password = None
        ids: dict[str, int] = {u.username: u.id for u in s.exec(select(User)) if u.id is not None}
        for username, full_name, role, boss in DEMO_STAFF:
            if username in ids:
                continue
            staff_password = staff_password or auth.generate_password()
            user = auth.create_user(
                s,
                username=username,
                role=role,
                password=staff_password,
                full_name=full_name,
                superior_id=ids.get(boss) if boss else None,
            )
            assert user.id is not None
            ids[username] = user.id
        if staff_password:
            names = ", ".join(u for u, *_ in DEMO_STAFF)
            lines.append(f"demo staff ({names}) password: {staff_password}   (shown once)")
        if s.exec(select(Complaint).limit(1)).first() is None:
            for i, item in enumerate(DEMO_COMPLAINTS):
                received = now - dt.timedelta(days=2 * (len(DEMO_COMPLAINTS) - i))
                c = file_complaint(
                    session=s,
                    office=container.office,
                    channel=str(item["channel"]),
                    contact_urn=str(item["contact"]) or None,
                    text=str(item["text"]),
                    received_at=received,
                    now=now,
                    reporter_name=str(item["name"]) or None,
                    anonymous=bool(item.get("anonymous")),
                    actor="system:demo",
                )
                lines.append(f"sample {c.kind}: {c.tracking_number} ({c.channel})")
    return lines
