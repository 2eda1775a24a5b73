"""``aduan email check`` and ``aduan email authorize`` against real local peers.

The check signs in to IMAP and SMTP and prints one line with a stable code per failure class; the
servers answer with the lines Gmail and Microsoft 365 really send. Authorize runs the device flow
(Microsoft 365) and the loopback flow with PKCE (Gmail) against a token server over HTTP.
"""

# ruff: noqa: F811  (pytest fixtures imported from the conftest modules are used as test parameters)

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels import email_oauth
from cli.main import main
from tests.conftest import ROOT
from tests.integration.channels.conftest_mail import PASSWORD, USER, Mailbox
from tests.integration.channels.conftest_oauth import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeOAuth,
    closed_port,
    dovecot_oauth,
    oauth,
    oauth_mailbox,
    oauth_server,
    scripted_imap,
    smtp_oauth,
)

#: Gmail's answers (as quoted on its help pages and seen on the wire).
GMAIL_APP_PASSWORD_IMAP = (
    "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 "
    "(Failure)"
)
GMAIL_APP_PASSWORD_SMTP = (
    "534-5.7.9 Application-specific password required. Learn more at\r\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d9-20020a170902"
)
GMAIL_IMAP_DISABLED = (
    "NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings page and "
    "enable your account for IMAP access. (Failure)"
)
GMAIL_BAD_SCOPE = (
    {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"},
    "NO Invalid SASL argument.",
)
#: Microsoft 365's answers.
M365_GREETING = "* OK The Microsoft Exchange IMAP4 service is ready. [UABSADIAUAAyADIAMQBDAEEAMAAwADEA]"
M365_CAPABILITIES = (
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
)
M365_NOT_CONNECTED = "BAD User is authenticated but not connected."
M365_BASIC_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PAXP193CA0012.EURP193.PROD]"
)
M365_SMTP_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    "Visit https://aka.ms/smtp_auth_disabled for more information. [MN2PR20CA0012.namprd20.prod]"
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def email_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a config.toml whose ``[channels.email]`` holds the given keys; secrets go to the environment."""

    def write(secrets: dict[str, str] | None = None, **email: Any) -> None:
        table = {
            "enabled": True,
            "address": USER,
            "imap_user": USER,
            "imap_ssl": False,
            "smtp_security": "none",
        }
        table |= email
        lines = [
            "[office]",
            'code = "pwk"',
            "[database]",
            # never connected to: the e-mail commands need no database
            'url = "postgresql+psycopg://postgres@127.0.0.1:1/not_used"',
        ]
        lines += ["[channels.email]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        monkeypatch.setenv("ADUAN_CONFIG", str(path))
        for name in ("ADUAN_IMAP_PASSWORD", "ADUAN_SMTP_PASSWORD", *EMAIL_SECRETS):
            monkeypatch.delenv(name, raising=False)
        for name, value in (secrets or {}).items():
            monkeypatch.setenv(name, value)

    return write


EMAIL_SECRETS = {email_oauth.REFRESH_TOKEN_ENV: REFRESH_TOKEN, email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> None:
    email_oauth.forget_tokens()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def oauth_keys(server: FakeOAuth, provider: str = "google") -> dict[str, Any]:
    return {
        "auth": "oauth2",
        "oauth_provider": provider,
        "oauth_client_id": CLIENT_ID,
        "oauth_token_url": f"{server.url}/token",
        "oauth_authorize_url": f"{server.url}/authorize",
        "oauth_device_url": f"{server.url}/device",
    }


def imap_at(port: int, **extra: Any) -> dict[str, Any]:
    return {"imap_host": "127.0.0.1", "imap_port": port, **extra}


def smtp_at(port: int) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_user": USER}


# -- check ---------------------------------------------------------------------------------------


def test_check_with_oauth2_says_both_work_in_one_line(
    email_config: Any, oauth: FakeOAuth, oauth_mailbox: Mailbox, smtp_oauth: Any, capsys: Any
) -> None:
    oauth_mailbox.append(b"Subject: hai\r\n\r\nhalo\r\n")
    email_config(
        EMAIL_SECRETS,
        **imap_at(oauth_mailbox.port, imap_folder=oauth_mailbox.folder),
        **smtp_at(smtp_oauth.port),
        **oauth_keys(oauth),
    )
    code, out, _ = run(capsys, "email", "check")
    assert code == 0
    assert out.strip() == (
        f"IMAP baik (XOAUTH2, 1 surat di {oauth_mailbox.folder}) | "
        f"SMTP baik (XOAUTH2, 127.0.0.1:{smtp_oauth.port})"
    )
    assert len(oauth.token_requests()) == 1  # one refreshed token served IMAP and SMTP


def test_check_wrong_password_on_both(
    email_config: Any, dovecot_oauth: dict[str, Any], smtp_oauth: Any, capsys: Any
) -> None:
    secrets = {"ADUAN_IMAP_PASSWORD": "not-" + PASSWORD, "ADUAN_SMTP_PASSWORD": "not-smtp-secret"}
    email_config(secrets, **imap_at(dovecot_oauth["port"]), **smtp_at(smtp_oauth.port))
    code, out, _ = run(capsys, "email", "check")
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert "IMAP GAGAL [wrong_password]" in out and "SMTP GAGAL [wrong_password]" in out


def test_check_gmail_wants_an_app_password(email_config: Any, smtp_oauth: Any, capsys: Any) -> None:
    smtp_oauth.refuse_with = GMAIL_APP_PASSWORD_SMTP
    with scripted_imap(login=GMAIL_APP_PASSWORD_IMAP) as gmail:
        email_config(
            {"ADUAN_IMAP_PASSWORD": "account-password", "ADUAN_SMTP_PASSWORD": "account-password"},
            **imap_at(gmail.port),
            **smtp_at(smtp_oauth.port),
        )
        code, out, _ = run(capsys, "email", "check")
    assert code == 1
    assert "IMAP GAGAL [app_password_needed]" in out and "SMTP GAGAL [app_password_needed]" in out
    assert "https://myaccount.google.com/apppasswords" in out and "ADUAN_IMAP_PASSWORD" in out


def test_check_imap_switched_off_in_gmail_settings(email_config: Any, smtp_oauth: Any, capsys: Any) -> None:
    with scripted_imap(login=GMAIL_IMAP_DISABLED) as gmail:
        email_config(
            {"ADUAN_IMAP_PASSWORD": "abcdefghijklmnop", "ADUAN_SMTP_PASSWORD": "smtp-secret"},
            **imap_at(gmail.port),
            **smtp_at(smtp_oauth.port),
        )
        code, out, _ = run(capsys, "email", "check")
    assert code == 1
    assert "IMAP GAGAL [imap_disabled]" in out and "Aktifkan IMAP" in out
    assert "SMTP baik (kata sandi" in out


def test_check_oauth_token_without_the_mail_scope(
    email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any
) -> None:
    oauth.scope = "https://www.googleapis.com/auth/gmail.readonly"  # consent given for the wrong scope
    with scripted_imap(xoauth2=GMAIL_BAD_SCOPE) as gmail:
        email_config(EMAIL_SECRETS, **imap_at(gmail.port), **smtp_at(closed_port()), **oauth_keys(oauth))
        code, out, _ = run(capsys, "email", "check")
    assert code == 1
    assert "IMAP GAGAL [scope_missing]" in out and "https://mail.google.com/" in out
    assert "SMTP GAGAL [unreachable]" in out


def test_check_scope_missing_read_from_the_servers_challenge_alone(
    email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any
) -> None:
    oauth.scope = ""  # the token endpoint does not say which scopes it granted
    with scripted_imap(xoauth2=GMAIL_BAD_SCOPE) as gmail:
        email_config(EMAIL_SECRETS, **imap_at(gmail.port), **smtp_at(smtp_oauth.port), **oauth_keys(oauth))
        _, out, _ = run(capsys, "email", "check")
    assert "IMAP GAGAL [scope_missing]" in out


def test_check_revoked_refresh_token(
    email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any
) -> None:
    oauth.token_error = "invalid_grant"
    with scripted_imap() as gmail:
        email_config(EMAIL_SECRETS, **imap_at(gmail.port), **smtp_at(smtp_oauth.port), **oauth_keys(oauth))
        code, out, _ = run(capsys, "email", "check")
    assert code == 1
    assert "IMAP GAGAL [refresh_token_invalid]" in out and "SMTP GAGAL [refresh_token_invalid]" in out
    assert "aduan email authorize" in out


def test_check_wrong_client_secret(email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any) -> None:
    with scripted_imap() as gmail:
        keys = oauth_keys(oauth) | {"oauth_client_id": "someone-elses-client"}
        email_config(EMAIL_SECRETS, **imap_at(gmail.port), **smtp_at(smtp_oauth.port), **keys)
        _, out, _ = run(capsys, "email", "check")
    assert "IMAP GAGAL [client_invalid]" in out


def test_check_token_of_another_account_is_refused(
    email_config: Any, oauth: FakeOAuth, oauth_mailbox: Mailbox, smtp_oauth: Any, capsys: Any
) -> None:
    oauth.email = "pribadi@example.test"  # consent was given with the administrator's own account
    email_config(
        EMAIL_SECRETS, **imap_at(oauth_mailbox.port), **smtp_at(smtp_oauth.port), **oauth_keys(oauth)
    )
    _, out, _ = run(capsys, "email", "check")
    assert "IMAP GAGAL [token_refused]" in out and "SMTP GAGAL [token_refused]" in out


def test_check_microsoft_365_mailbox_not_connected_and_basic_auth_disabled(
    email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any
) -> None:
    smtp_oauth.refuse_with = M365_BASIC_DISABLED
    with scripted_imap(
        greeting=M365_GREETING, capabilities=M365_CAPABILITIES, select=M365_NOT_CONNECTED
    ) as exchange:
        email_config(
            EMAIL_SECRETS | {"ADUAN_SMTP_PASSWORD": "password"},
            **imap_at(exchange.port),
            **smtp_at(smtp_oauth.port),
            **oauth_keys(oauth, "microsoft"),
        )
        _, out, _ = run(capsys, "email", "check")
    assert "IMAP GAGAL [mailbox_not_connected]" in out
    assert "SMTP GAGAL [basic_auth_disabled]" in out


def test_check_microsoft_365_smtp_auth_switched_off(
    email_config: Any, oauth: FakeOAuth, smtp_oauth: Any, capsys: Any
) -> None:
    smtp_oauth.refuse_with = M365_SMTP_AUTH_DISABLED
    with scripted_imap(greeting=M365_GREETING, capabilities=M365_CAPABILITIES) as exchange:
        email_config(
            EMAIL_SECRETS,
            **imap_at(exchange.port),
            **smtp_at(smtp_oauth.port),
            **oauth_keys(oauth, "microsoft"),
        )
        code, out, _ = run(capsys, "email", "check")
    assert code == 1
    assert out.startswith("IMAP baik (XOAUTH2, 3 surat di INBOX)")
    assert "SMTP GAGAL [smtp_auth_disabled]" in out and "Authenticated SMTP" in out


def test_check_server_unreachable_and_secret_missing(email_config: Any, capsys: Any) -> None:
    email_config({"ADUAN_SMTP_PASSWORD": "x"}, **imap_at(closed_port()), **smtp_at(closed_port()))
    _, out, _ = run(capsys, "email", "check")
    assert "IMAP GAGAL [config]: channel email: environment variable ADUAN_IMAP_PASSWORD is not set" in out
    assert "SMTP GAGAL [unreachable]" in out


# -- authorize -----------------------------------------------------------------------------------


def test_authorize_device_flow_prints_the_steps_and_the_refresh_token(
    email_config: Any, oauth: FakeOAuth, capsys: Any
) -> None:
    email_config({}, **oauth_keys(oauth, "microsoft"))
    code, out, _ = run(capsys, "email", "authorize")
    assert code == 0
    assert "Langkah 1. Buka https://microsoft.example.test/devicelogin" in out
    assert "Masukkan kode: ABCD-EFGH" in out
    assert out.strip().splitlines()[-2] == f"{email_oauth.REFRESH_TOKEN_ENV}=1//rotated-1"
    polls = oauth.token_requests()
    assert len(polls) == 2  # authorization_pending once, then the token
    assert polls[-1]["grant_type"] == email_oauth.DEVICE_GRANT and polls[-1]["device_code"] == "device-code-1"
    device = next(r for r in oauth.requests if r["path"] == "/device")
    assert device["form"]["client_id"] == CLIENT_ID and "IMAP.AccessAsUser.All" in device["form"]["scope"]


def test_authorize_without_client_id_is_one_line_exit_2(email_config: Any, capsys: Any) -> None:
    email_config({}, auth="oauth2", oauth_provider="microsoft")
    code, _, err = run(capsys, "email", "authorize")
    assert code == 2 and err.strip().startswith("aduan: error:") and "oauth_client_id" in err


def test_authorize_refused_consent_exits_1(email_config: Any, oauth: FakeOAuth, capsys: Any) -> None:
    oauth.token_error = "access_denied"
    email_config({}, **oauth_keys(oauth, "microsoft"))
    code, _, err = run(capsys, "email", "authorize")
    assert code == 1 and "access_denied" in err


def browse(url: str, *, follow: bool) -> str:
    """The administrator's browser: open the consent page, consent, land on the redirect address."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        answer = browser.get(url)
        target = answer.headers["location"]
        if follow:
            browser.get(target)
        return target


def test_loopback_flow_with_pkce_catches_the_redirect(oauth: FakeOAuth) -> None:
    keys = oauth_keys(oauth)
    settings = email_oauth.OAuthSettings.of(
        keys, {email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET}, need_refresh_token=False
    )
    shown: list[str] = []

    def show(url: str) -> None:
        shown.append(url)
        threading.Thread(target=browse, args=(url,), kwargs={"follow": True}, daemon=True).start()

    token = email_oauth.loopback_flow(settings, show=show)
    assert token["refresh_token"] == "1//rotated-1"
    asked = next(r["query"] for r in oauth.requests if r["path"] == "/authorize")
    # Google hands out a refresh token only with offline access and a fresh consent.
    assert asked["access_type"] == "offline" and asked["prompt"] == "consent"
    assert asked["code_challenge_method"] == "S256" and asked["redirect_uri"].startswith("http://127.0.0.1:")
    [exchange] = oauth.token_requests()
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]


def test_loopback_flow_with_a_pasted_address_over_ssh(oauth: FakeOAuth) -> None:
    settings = email_oauth.OAuthSettings.of(
        oauth_keys(oauth), {email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET}, need_refresh_token=False
    )
    shown: list[str] = []
    token = email_oauth.loopback_flow(
        settings, show=shown.append, pasted=lambda: browse(shown[0], follow=False)
    )
    assert token["access_token"] == oauth.issued[0]


def test_loopback_flow_refuses_an_address_from_another_attempt(oauth: FakeOAuth) -> None:
    settings = email_oauth.OAuthSettings.of(
        oauth_keys(oauth), {email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET}, need_refresh_token=False
    )
    with pytest.raises(email_oauth.TokenError) as caught:
        email_oauth.loopback_flow(
            settings, show=lambda url: None, pasted=lambda: "http://127.0.0.1:8400/?code=abc&state=forged"
        )
    assert caught.value.error == "invalid_state" and oauth.token_requests() == []


def test_cli_start_up_does_not_import_the_oauth_libraries() -> None:
    code = (
        "import sys, cli.main; "
        "print(sorted(m for m in ('authlib', 'authlib.integrations', 'ops.email_check') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_ssl_asked_of_a_plain_port_is_a_tls_mistake(
    email_config: Any, smtp_oauth: Any, capsys: Any
) -> None:
    with scripted_imap() as gmail:
        email_config(
            {"ADUAN_IMAP_PASSWORD": "abcdefghijklmnop"},
            **imap_at(gmail.port, imap_ssl=True, imap_timeout=5),
            **smtp_at(smtp_oauth.port),
        )
        _, out, _ = run(capsys, "email", "check")
    assert f"IMAP GAGAL [tls]: TLS gagal ke 127.0.0.1:{gmail.port}" in out


def test_authorize_loopback_from_the_command_line(email_config: Any, oauth: FakeOAuth, capsys: Any) -> None:
    email_config({email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET}, **oauth_keys(oauth, "google"))
    result: list[int] = []

    def command() -> None:
        try:
            main(["email", "authorize"])
        except SystemExit as exc:
            result.append(int(exc.code or 0))

    worker = threading.Thread(target=command, daemon=True)
    worker.start()
    printed = ""
    while "Langkah 3" not in printed and worker.is_alive():
        printed += capsys.readouterr().out
        worker.join(0.05)
    url = next(line.strip() for line in printed.splitlines() if line.strip().startswith(oauth.url))
    browse(url, follow=True)  # the administrator consents; the browser comes back to Aduan
    worker.join(15)
    printed += capsys.readouterr().out
    assert result == [0]
    assert "Langkah 2. Masuk sebagai bot@example.test" in printed
    assert f"{email_oauth.REFRESH_TOKEN_ENV}=1//rotated-1" in printed.splitlines()


def test_authorize_for_an_office_of_offices_prints_its_own_variable(
    email_config: Any, oauth: FakeOAuth, tmp_path: Path, capsys: Any
) -> None:
    email_config({}, **oauth_keys(oauth, "microsoft"))
    config = tmp_path / "config.toml"
    config.write_text('[offices]\ndir = "offices"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "offices").mkdir()
    (tmp_path / "offices" / "bdg.toml").write_text(
        '[office]\ncode = "bdg"\nname = "DPMPTSP Bandung"\ntracking_prefix = "BDG"\n'
        "[channels.email]\n"
        'address = "pengaduan@bdg.example.test"\nimap_user = "pengaduan@bdg.example.test"\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "email", "authorize", "--office", "bdg")
    assert code == 0 and "Masuk sebagai pengaduan@bdg.example.test" in out
    assert (
        f"ADUAN_BDG_{email_oauth.REFRESH_TOKEN_ENV.removeprefix('ADUAN_')}=1//rotated-1" in out.splitlines()
    )
    code, _, err = run(capsys, "email", "check", "--office", "nope")
    assert code == 2 and err.strip() == "aduan: error: office 'nope' unknown; known: pwk, bdg"
