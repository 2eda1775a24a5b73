"""``aduan email check``: sign in to the mailbox's IMAP and SMTP and say what works and what to fix.

The servers' own answers are mapped to a cause an administrator can act on. The lines matched are
the ones Gmail and Microsoft 365 send (their help pages quote them): Gmail's ``Application-specific
password required`` (IMAP ``[ALERT]``, SMTP ``534 5.7.9``), ``Your account is not enabled for IMAP
use``, ``[AUTHENTICATIONFAILED] Invalid credentials`` / ``535 5.7.8``, ``5.7.14`` / ``[WEBALERT]``
(sign in in a browser first), and the XOAUTH2 error challenge ``{"status":"400",...,"scope":...}``
(the token lacks the mail scope); Microsoft's ``535 5.7.139 ... basic authentication is disabled``,
``SmtpClientAuthentication is disabled for the Tenant/Mailbox``, ``User is authenticated but not
connected`` and ``AUTHENTICATE failed``. Nothing here is logged: the answer goes to the terminal.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from dataclasses import dataclass

from imapclient.exceptions import IMAPClientError

from app.container import ChannelConfig
from app.settings import ConfigError
from channels import email as mail
from channels import email_oauth
from channels.base import ChannelError
from channels.imap_poller import ImapSettings, connect


@dataclass(frozen=True)
class Verdict:
    """One service's result: ``code`` is stable (tests, scripts), ``text`` says it in Indonesian."""

    service: str
    code: str
    text: str

    @property
    def ok(self) -> bool:
        return self.code == "ok"

    def line(self) -> str:
        if self.ok:
            return f"{self.service} baik ({self.text})"
        return f"{self.service} GAGAL [{self.code}]: {self.text}"


#: (pattern on the server's answer, code, what to do). First match wins; order matters.
ANSWERS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), code, text)
    for pattern, code, text in (
        (
            r"application-specific password required|5\.7\.9\b|InvalidSecondFactor",
            "app_password_needed",
            "Gmail meminta sandi aplikasi: aktifkan Verifikasi 2 Langkah, buat sandi aplikasi di "
            "https://myaccount.google.com/apppasswords dan simpan di {secret}, atau pakai "
            'auth = "oauth2" (app password needed)',
        ),
        (
            r"not enabled for IMAP|IMAP access is disabled|IMAP is disabled",
            "imap_disabled",
            "IMAP dimatikan di setelan kotak surat: Gmail > Setelan > Penerusan dan POP/IMAP > "
            "Aktifkan IMAP; Microsoft 365: admin center > pengguna > Mail > Manage email apps > IMAP "
            "(IMAP disabled in the mailbox's settings)",
        ),
        (
            r"SmtpClientAuthentication is disabled",
            "smtp_auth_disabled",
            "SMTP AUTH dimatikan: Microsoft 365 admin center > pengguna > Mail > Manage email apps > "
            "Authenticated SMTP (SMTP AUTH disabled for the mailbox or tenant)",
        ),
        (
            r"basic authentication is disabled|5\.7\.139",
            "basic_auth_disabled",
            'Microsoft 365 tidak menerima kata sandi: pakai auth = "oauth2" dan jalankan '
            "`aduan email authorize` (basic authentication disabled)",
        ),
        (
            r"authenticated but not connected",
            "mailbox_not_connected",
            "masuk berhasil tetapi kotak surat tidak terbuka: imap_user harus akun yang memberi izin, "
            "atau IMAP dimatikan untuk kotak surat ini (authenticated but not connected)",
        ),
        (
            r"WEBALERT|web login required|5\.7\.14|log in via your web browser",
            "web_login_required",
            "Google memblokir masuk: buka https://accounts.google.com di browser dengan akun ini dan "
            "selesaikan pemeriksaan keamanan (web login required)",
        ),
    )
)
_REFUSED = re.compile(
    r"AUTHENTICATIONFAILED|Invalid credentials|5\.7\.8|5\.7\.3|LOGIN failed|AUTHENTICATE failed|"
    r"Authentication failed|Username and Password not accepted|\b535\b",
    re.IGNORECASE,
)
#: Token endpoint errors (RFC 6749 §5.2, RFC 8628 §3.5) and what to do about them.
TOKEN_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_grant": (
        "refresh_token_invalid",
        "refresh token ditolak (kedaluwarsa atau dicabut; aplikasi Google berstatus Testing "
        "memberi token 7 hari saja): jalankan `aduan email authorize` lagi (refresh token refused)",
    ),
    "invalid_client": (
        "client_invalid",
        "oauth_client_id atau ADUAN_IMAP_OAUTH_CLIENT_SECRET salah (OAuth client refused)",
    ),
    "unauthorized_client": (
        "client_invalid",
        "aplikasi OAuth tidak boleh memakai alur ini: periksa jenis aplikasinya (Desktop / public "
        "client) (unauthorized client)",
    ),
    "invalid_scope": (
        "scope_missing",
        "scope OAuth ditolak: periksa oauth_scope dan izin API aplikasi (invalid scope)",
    ),
    "unreachable": (
        "token_endpoint_unreachable",
        "server token OAuth tidak terjangkau (token endpoint unreachable)",
    ),
    "server_error": (
        "token_endpoint_unreachable",
        "server token OAuth sedang bermasalah (token endpoint error)",
    ),
}


def _scope_missing(scopes: list[str]) -> str:
    return (
        f"token tidak memberi izin {' '.join(scopes)}: jalankan `aduan email authorize` lagi dan "
        "setujui akses e-mail (OAuth scope missing)"
    )


def explain(
    service: str, answer: str, *, oauth: email_oauth.TokenSource | None, host: str, secret: str
) -> Verdict:
    """Map a server's refusal (and the XOAUTH2 error challenge, when any) to a cause and a fix."""
    for pattern, code, text in ANSWERS:
        if pattern.search(answer):
            return Verdict(service, code, text.format(secret=secret))
    if oauth is not None:
        missing = oauth.missing_scopes()
        challenge = _challenge(answer)
        if missing or challenge.get("status") in ("400", "invalid_request"):
            return Verdict(service, "scope_missing", _scope_missing(missing or [challenge.get("scope", "")]))
        if _REFUSED.search(answer) or challenge:
            return Verdict(
                service,
                "token_refused",
                f"server menolak token: {service} user harus akun yang memberi izin di "
                "`aduan email authorize`, atau izinnya dicabut (access token refused)",
            )
    elif _REFUSED.search(answer):
        if re.search(r"office365|outlook\.|microsoft", host, re.IGNORECASE):
            return Verdict(
                service,
                "basic_auth_disabled",
                'Microsoft 365 tidak menerima kata sandi: pakai auth = "oauth2" '
                "(basic authentication disabled)",
            )
        return Verdict(
            service,
            "wrong_password",
            f"kata sandi ditolak: periksa {secret} (Gmail: sandi aplikasi 16 huruf, bukan sandi akun) "
            "(wrong password)",
        )
    return Verdict(service, "refused", f"server menjawab: {answer.strip()[:200]}")


def _challenge(answer: str) -> dict[str, str]:
    """Return the XOAUTH2 error challenge (JSON) that ``email_oauth.signin`` noted on the error."""
    for match in re.finditer(r"\{[^{}]*\}", answer):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
    return {}


def _token_verdict(service: str, exc: email_oauth.TokenError) -> Verdict:
    code, text = TOKEN_ERRORS.get(exc.error, ("token_error", f"server token OAuth menjawab {exc}"))
    return Verdict(service, code, text)


def _network_verdict(service: str, exc: BaseException, host: str, port: int) -> Verdict:
    if isinstance(exc, ssl.SSLError):
        return Verdict(
            service,
            "tls",
            f"TLS gagal ke {host}:{port}: periksa port dan pilihan SSL/STARTTLS (TLS failed)",
        )
    return Verdict(
        service,
        "unreachable",
        f"tidak bisa terhubung ke {host}:{port} ({type(exc).__name__}) (server unreachable)",
    )


def _with_notes(exc: BaseException) -> str:
    return " ".join([str(exc), *getattr(exc, "__notes__", [])])


def check_imap(config: ChannelConfig) -> Verdict:
    """Sign in to IMAP as the poller does and open the folder."""
    try:
        settings = ImapSettings.from_config(config)
    except ConfigError as exc:
        return Verdict("IMAP", "config", str(exc))
    oauth = email_oauth.source(settings.oauth) if settings.oauth else None
    secret = "ADUAN_IMAP_PASSWORD"
    try:
        client = connect(settings)
    except email_oauth.TokenError as exc:
        return _token_verdict("IMAP", exc)
    except IMAPClientError as exc:
        return explain("IMAP", _with_notes(exc), oauth=oauth, host=settings.host, secret=secret)
    except OSError as exc:
        return _network_verdict("IMAP", exc, settings.host, settings.port)
    try:
        info = client.select_folder(settings.folder, readonly=True)
    except IMAPClientError as exc:
        verdict = explain("IMAP", str(exc), oauth=oauth, host=settings.host, secret=secret)
        if verdict.code != "refused":
            return verdict
        return Verdict(
            "IMAP",
            "folder_missing",
            f"folder {settings.folder!r} tidak bisa dibuka: periksa imap_folder ({str(exc)[:120]})",
        )
    finally:
        try:
            client.logout()
        except (IMAPClientError, OSError):
            pass
    how = "XOAUTH2" if oauth else "kata sandi"
    return Verdict("IMAP", "ok", f"{how}, {int(info.get(b'EXISTS', 0))} surat di {settings.folder}")


def check_smtp(config: ChannelConfig) -> Verdict:
    """Connect to SMTP and sign in as the outbox does (no mail is sent)."""
    try:
        sender = mail.make_sender(config)
    except (ConfigError, email_oauth.OAuthConfigError) as exc:
        return Verdict("SMTP", "config", str(exc))
    error: BaseException | None = None
    try:
        sender.check()
    except ChannelError as exc:  # the sender wraps a failed OAuth2 sign-in (the cause says why)
        error = exc.__cause__ or exc
    except (smtplib.SMTPException, OSError) as exc:
        error = exc
    if isinstance(error, email_oauth.TokenError):
        return _token_verdict("SMTP", error)
    if isinstance(error, smtplib.SMTPResponseException):
        said = error.smtp_error
        answer = f"{error.smtp_code} {said.decode('utf-8', 'replace') if isinstance(said, bytes) else said}"
        answer = " ".join([answer, *getattr(error, "__notes__", [])])
        return explain("SMTP", answer, oauth=sender.oauth, host=sender.host, secret="ADUAN_SMTP_PASSWORD")
    if isinstance(error, smtplib.SMTPException | OSError):
        return _network_verdict("SMTP", error, sender.host, sender.port)
    if error is not None:
        return Verdict("SMTP", "refused", str(error)[:200])
    if sender.oauth is not None:
        how = "XOAUTH2"
    elif sender.user and sender.password:
        how = "kata sandi"
    else:
        how = "tanpa login"
    return Verdict("SMTP", "ok", f"{how}, {sender.host}:{sender.port}")


def check(config: ChannelConfig) -> list[Verdict]:
    """Check IMAP then SMTP of the e-mail channel."""
    return [check_imap(config), check_smtp(config)]
