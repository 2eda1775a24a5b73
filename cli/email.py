"""E-mail commands: ``aduan email authorize`` (get the OAuth2 refresh token once) and ``aduan email check``.

Steps are printed in Indonesian, with English in parentheses, for the administrator who sets up
the office's mailbox (docs/email.md walks through the provider's side).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from channels import email_oauth
from cli.app import app, fail, settings_of

if TYPE_CHECKING:
    from app.container import ChannelConfig

email_app = typer.Typer(
    help="Kotak surat pengaduan: izin OAuth2 dan uji masuk (mailbox sign-in).", no_args_is_help=True
)
app.add_typer(email_app, name="email")


#: ``--office``: an office of ``offices/`` whose own mailbox is meant (default: the primary office).
OfficeOption = Annotated[
    str | None,
    typer.Option("--office", help="Kode kantor (office code) dari offices/; bawaan: kantor utama."),
]


def _config(ctx: typer.Context, office: str | None) -> ChannelConfig:
    """``[channels.email]`` and the secrets as the office uses them (its own keys and ADUAN_<CODE>_…)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): the whole container loads only here.
    from app.container import Container
    from intake import db

    settings = settings_of(ctx)
    if office is not None and office not in settings.offices:
        fail(f"office {office!r} unknown; known: {', '.join(settings.offices)}")
    # The engine is never connected here: the commands need the channel's config, not the database.
    container = Container(
        settings=settings, engine=db.create_engine(settings.database_url), default_office=office
    )
    return container.channel_config("email")


@email_app.command("check")
def email_check(ctx: typer.Context, office: OfficeOption = None) -> None:
    """Uji masuk IMAP dan SMTP; satu baris: apa yang jalan, apa yang harus dibetulkan (sign-in check)."""
    # Lazy: the check pulls in imapclient, smtplib and (with OAuth2) Authlib; importing them when
    # the CLI starts would slow every other command down.
    from ops import email_check as checker

    verdicts = checker.check(_config(ctx, office))
    typer.echo(" | ".join(v.line() for v in verdicts))
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)


@email_app.command("authorize")
def email_authorize(
    ctx: typer.Context,
    flow: Annotated[
        str | None,
        typer.Option(help="device (Microsoft 365) atau loopback (Gmail); bawaan: menurut oauth_provider."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port loopback di 127.0.0.1 (0 = bebas) (loopback port).")] = 0,
    paste: Annotated[
        bool,
        typer.Option("--paste", help="Tanpa listener: tempel alamat akhir dari browser (over SSH)."),
    ] = False,
    office: OfficeOption = None,
) -> None:
    """Minta izin OAuth2 sekali dan cetak refresh token untuk /etc/aduan/env (get the refresh token)."""
    config = _config(ctx, office)
    try:
        settings = email_oauth.OAuthSettings.of(config.table, config.secrets, need_refresh_token=False)
    except email_oauth.OAuthConfigError as exc:
        fail(str(exc))
    chosen = flow or settings.default_flow
    if chosen not in ("device", "loopback"):
        fail(f"--flow {chosen!r} unknown; known: device, loopback")
    user = str(config.table.get("imap_user") or config.table.get("address") or "kotak surat pengaduan")
    try:
        token = _device(settings, user) if chosen == "device" else _loopback(settings, user, port, paste)
    except email_oauth.TokenError as exc:
        fail(f"izin OAuth2 gagal (authorization failed): {exc}", code=1)
    refresh = str(token.get("refresh_token") or "")
    if not refresh:
        fail(
            "server tidak memberi refresh token (no refresh token returned): Google memberinya hanya "
            "pada persetujuan pertama; cabut akses aplikasi di https://myaccount.google.com/permissions "
            "lalu ulangi",
            code=1,
        )
    granted = set(str(token.get("scope") or "").split())
    missing = sorted(settings.mail_scopes - granted) if granted else []
    if missing:
        typer.echo(f"PERINGATAN: izin {' '.join(missing)} tidak diberikan (scope missing).", err=True)
    typer.echo("")
    typer.echo("Berhasil. Simpan baris berikut di /etc/aduan/env (chmod 600), lalu jalankan ulang Aduan:")
    typer.echo("(Success: put this line in the environment file and restart.)")
    # An office of offices/ keeps its own secrets as ADUAN_<CODE>_… (app.container.channel_config).
    name = email_oauth.REFRESH_TOKEN_ENV
    if office is not None and office != settings_of(ctx).office.code:
        name = name.replace("ADUAN_", f"ADUAN_{office.upper()}_", 1)
    typer.echo(f"{name}={refresh}")
    typer.echo("Lalu uji: aduan email check")


def _device(settings: email_oauth.OAuthSettings, user: str) -> dict[str, object]:
    code = email_oauth.start_device_flow(settings)
    minutes = max(1, int(code.expires_in // 60))
    typer.echo("Izin kotak surat lewat kode perangkat (device code flow):")
    typer.echo(f"  Langkah 1. Buka {code.verification_uri} di browser mana saja (ponsel juga bisa).")
    typer.echo(f"  Langkah 2. Masukkan kode: {code.user_code}")
    typer.echo(f"  Langkah 3. Masuk sebagai {user} dan setujui izin membaca dan mengirim e-mail.")
    typer.echo(f"Menunggu persetujuan (kode berlaku {minutes} menit; Ctrl+C untuk batal)…")
    return email_oauth.finish_device_flow(settings, code, wait=time.sleep)


def _loopback(settings: email_oauth.OAuthSettings, user: str, port: int, paste: bool) -> dict[str, object]:
    def show(url: str) -> None:
        typer.echo("Izin kotak surat lewat browser (loopback flow):")
        typer.echo("  Langkah 1. Buka alamat ini di browser:")
        typer.echo(f"    {url}")
        typer.echo(f"  Langkah 2. Masuk sebagai {user} dan setujui akses ke e-mail.")
        typer.echo(
            '    Jika Google menulis "Google belum memverifikasi aplikasi ini": pilih Lanjutan, lalu '
            "lanjutkan (aplikasi milik kantor sendiri)."
        )
        if paste:
            typer.echo(
                "  Langkah 3. Browser lalu membuka alamat http://127.0.0.1:… yang gagal dimuat: itu "
                "wajar. Salin alamat lengkap itu dari bilah alamat dan tempel di bawah."
            )
        else:
            typer.echo(
                '  Langkah 3. Browser kembali ke Aduan dan menulis "izin diterima". Lewat SSH? Jalankan '
                "dengan --port 8400 dan, di komputer Anda, ssh -L 8400:127.0.0.1:8400 <server>; atau "
                "pakai --paste."
            )

    pasted = (lambda: str(typer.prompt("Alamat dari browser (address)"))) if paste else None
    return email_oauth.loopback_flow(settings, show=show, port=port, pasted=pasted)
