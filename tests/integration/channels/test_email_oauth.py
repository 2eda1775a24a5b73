"""OAuth2 sign-in of the e-mail channel (R2g): XOAUTH2 to a real Dovecot and aiosmtpd, tokens over real HTTP.

Gmail takes a password only as an app password and Microsoft 365 no password at all: the mailbox
signs in with an access token that a refresh token (ADUAN_IMAP_OAUTH_REFRESH_TOKEN) renews before
it expires. Nothing is lost when a token ends mid-IDLE, and password sign-in keeps working.
"""

# ruff: noqa: F811  (pytest fixtures imported from the conftest modules are used as test parameters)

from __future__ import annotations

import threading
from typing import Any

import pytest
from imapclient.exceptions import LoginError

from app import settings as config_mod
from app.container import Container
from channels import email as mail
from channels import email_oauth
from channels.base import OutboundMessage, TemporaryFailure
from channels.imap_poller import RECOVERABLE, ImapSettings, connect, poll_once, run
from tests.e2e.test_email_imap import OFFICE, citizen_mail, counts, file_every_mail, wait_for
from tests.integration.channels.conftest_mail import PASSWORD, USER, Mailbox
from tests.integration.channels.conftest_oauth import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SCOPE,
    FakeOAuth,
    closed_port,
    dovecot_oauth,
    kick,
    oauth,
    oauth_mailbox,
    oauth_server,
    smtp_oauth,
)

EMAIL_SECRETS = {
    email_oauth.REFRESH_TOKEN_ENV: REFRESH_TOKEN,
    email_oauth.CLIENT_SECRET_ENV: CLIENT_SECRET,
}


def oauth_table(server: FakeOAuth, **extra: Any) -> dict[str, Any]:
    """``[channels.email]`` keys of a Gmail mailbox signing in with OAuth2 (token endpoint: the fake)."""
    return {
        "auth": "oauth2",
        "oauth_provider": "google",
        "oauth_client_id": CLIENT_ID,
        "oauth_token_url": f"{server.url}/token",
        "oauth_authorize_url": f"{server.url}/authorize",
        "oauth_device_url": f"{server.url}/device",
        **extra,
    }


@pytest.fixture(autouse=True)
def _fresh_tokens() -> None:
    email_oauth.forget_tokens()  # each test starts with no access token cached in this process


@pytest.fixture
def wired(
    config_data: dict[str, Any], oauth: FakeOAuth, oauth_mailbox: Mailbox, smtp_oauth: Any
) -> dict[str, Any]:
    """config.toml's e-mail channel pointed at the OAuth Dovecot folder and aiosmtpd, auth = oauth2."""
    config_data["channels"]["email"].update(
        enabled=True,
        address=OFFICE,
        imap_host=oauth_mailbox.host,
        imap_port=oauth_mailbox.port,
        imap_ssl=False,
        imap_user=USER,
        imap_folder=oauth_mailbox.folder,
        idle_recheck=1,
        smtp_host=smtp_oauth.host,
        smtp_port=smtp_oauth.port,
        smtp_security="none",
        smtp_user=USER,
        **oauth_table(oauth),
    )
    return config_data


def env_of(settings: config_mod.Settings) -> dict[str, str]:
    """The test settings' environment, a plain dict (``conftest.settings``) a test may change."""
    assert isinstance(settings.env, dict)
    return settings.env


@pytest.fixture
def box(wired: dict[str, Any], container: Container) -> Container:
    """The container with the OAuth2 secrets in its environment and the stand-in dialogue."""
    env_of(container.settings).update(EMAIL_SECRETS)
    env_of(container.settings).pop("ADUAN_IMAP_PASSWORD", None)
    container.message_hooks[:] = [h for h in container.message_hooks if h.__module__ != "bot.dialogue"]
    container.message_hooks.append(file_every_mail)
    return container


def source_of(container: Container) -> email_oauth.TokenSource:
    settings = ImapSettings.of(container)
    assert settings.oauth is not None
    return email_oauth.source(settings.oauth)


# -- tokens over HTTP ----------------------------------------------------------------------------


def test_refresh_grant_sends_the_refresh_token_and_client_and_caches_the_access_token(
    oauth: FakeOAuth,
) -> None:
    settings = email_oauth.OAuthSettings.of(oauth_table(oauth), EMAIL_SECRETS)
    tokens = email_oauth.TokenSource(settings)
    first = tokens.access_token()
    assert tokens.access_token() == first == oauth.issued[0]  # cached: one request only
    [form] = oauth.token_requests()
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "scope": SCOPE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


def test_access_token_is_refreshed_before_it_expires_with_the_rotated_refresh_token(oauth: FakeOAuth) -> None:
    # The first token lives 200 s, inside oauth_refresh_before (300 s): it is renewed before use.
    oauth.expires_in = [200]
    settings = email_oauth.OAuthSettings.of(oauth_table(oauth, oauth_refresh_before=300), EMAIL_SECRETS)
    tokens = email_oauth.TokenSource(settings)
    assert tokens.access_token() == oauth.issued[0]
    assert tokens.access_token() == oauth.issued[1]
    assert tokens.access_token() == oauth.issued[1]  # the second lives an hour: kept
    # Microsoft rotates refresh tokens: the newest one is used (the old may be revoked).
    assert [f["refresh_token"] for f in oauth.token_requests()] == [REFRESH_TOKEN, "1//rotated-1"]


def test_revoked_refresh_token_raises_invalid_grant(oauth: FakeOAuth) -> None:
    oauth.refresh_tokens.clear()
    tokens = email_oauth.TokenSource(email_oauth.OAuthSettings.of(oauth_table(oauth), EMAIL_SECRETS))
    with pytest.raises(email_oauth.TokenError) as caught:
        tokens.access_token()
    assert caught.value.error == "invalid_grant"


def test_unreachable_token_endpoint_is_a_token_error_the_poller_retries(oauth: FakeOAuth) -> None:
    table = oauth_table(oauth, oauth_token_url=f"http://127.0.0.1:{closed_port()}/token")
    tokens = email_oauth.TokenSource(email_oauth.OAuthSettings.of(table, EMAIL_SECRETS))
    with pytest.raises(email_oauth.TokenError) as caught:
        tokens.access_token()
    assert caught.value.error == "unreachable"
    assert isinstance(caught.value, RECOVERABLE)


# -- IMAP XOAUTH2 against Dovecot ----------------------------------------------------------------


def test_r2g_poller_signs_in_with_xoauth2_and_stores_the_mail(
    box: Container, oauth: FakeOAuth, oauth_mailbox: Mailbox
) -> None:
    oauth_mailbox.append(citizen_mail(1))
    result = poll_once(box)
    assert (result.fetched, result.stored) == (1, 1)
    assert counts(box) == (1, 1, 1)
    # Dovecot asked the introspection endpoint about exactly the token the refresh grant issued.
    assert [r["path"] for r in oauth.requests] == ["/token", "/introspect"]
    assert all(b"\\Seen" in f for f in oauth_mailbox.flags().values())


def test_token_the_server_refuses_is_refreshed_and_the_sign_in_retried(
    box: Container, oauth: FakeOAuth, oauth_mailbox: Mailbox
) -> None:
    poll_once(box)
    oauth.expire(oauth.issued[0])  # ended early on the server's side (revoked, password changed...)
    oauth_mailbox.append(citizen_mail(2))
    assert poll_once(box).stored == 1
    assert len(oauth.issued) == 2 and len(oauth.token_requests()) == 2


def test_token_for_another_account_is_refused_with_the_servers_reason(
    box: Container, oauth: FakeOAuth
) -> None:
    oauth.email = "someone-else@example.test"  # the administrator consented with the wrong account
    with pytest.raises(LoginError) as caught:
        connect(ImapSettings.of(box))
    assert "AUTHENTICATIONFAILED" in str(caught.value)
    assert '"status": "401"' in " ".join(getattr(caught.value, "__notes__", []))
    assert len(oauth.token_requests()) == 1  # a brand-new token is not refreshed again in vain


def test_r2g_expired_token_ends_the_idle_session_and_the_watcher_resumes_without_losing_mail(
    box: Container, oauth: FakeOAuth, oauth_mailbox: Mailbox, dovecot_oauth: dict[str, Any]
) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(box, stop), daemon=True)
    worker.start()
    try:
        oauth_mailbox.append(citizen_mail(1))
        assert wait_for(lambda: counts(box)[2] == 1)  # signed in with token 1, now in IDLE
        # The token's hour is over: the server no longer takes it and ends the session, as
        # Microsoft 365 does ("* BYE Session invalidated - AccessTokenExpired").
        oauth.expire(oauth.issued[0])
        kick(dovecot_oauth)
        oauth_mailbox.append(citizen_mail(2))  # arrives while nobody is signed in
        assert wait_for(lambda: counts(box)[2] == 2)
        oauth_mailbox.append(citizen_mail(3))  # and IDLE goes on in the new session
        assert wait_for(lambda: counts(box)[2] == 3)
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()
    assert counts(box) == (3, 3, 3)
    assert len(oauth.issued) == 2  # the refused token was refreshed once, not once per retry
    assert all(b"\\Seen" in f for f in oauth_mailbox.flags().values())


def test_idle_session_signs_in_again_before_its_token_expires(
    box: Container, oauth: FakeOAuth, oauth_mailbox: Mailbox
) -> None:
    # The first token lives 304 s; with oauth_refresh_before = 300 the session is renewed after
    # about four seconds, before the server would end it, with a refreshed token. (With one second,
    # a sign-in slower than that on a loaded machine found its renewal moment already past.)
    box.settings.channels["email"]["oauth_refresh_before"] = 300
    oauth.expires_in = [304]
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(box, stop), daemon=True)
    worker.start()
    try:
        assert wait_for(lambda: len(oauth.issued) == 2)
        oauth.expire(oauth.issued[0])  # the first token is over now; the session uses the second
        oauth_mailbox.append(citizen_mail(4))
        assert wait_for(lambda: counts(box)[2] == 1)
    finally:
        stop.set()
        worker.join(15)
    introspected = [r for r in oauth.requests if r["path"] == "/introspect"]
    assert len(introspected) == 2 and len(oauth.issued) == 2  # two sign-ins, no refresh in vain


# -- SMTP AUTH XOAUTH2 ---------------------------------------------------------------------------


def answer(n: int = 1) -> OutboundMessage:
    return OutboundMessage(
        channel="email", to=f"mailto:warga{n}@example.test", text="Pengaduan Anda tercatat."
    )


def test_r2g_answer_is_sent_with_auth_xoauth2(box: Container, oauth: FakeOAuth, smtp_oauth: Any) -> None:
    sender = mail.make_sender(box.channel_config("email"))
    sent_id = sender.send(answer())
    [got] = smtp_oauth.messages
    assert got["user"] == USER and str(got["msg"]["Message-ID"]) == sent_id
    assert smtp_oauth.logins == [oauth.issued[0]]


def test_imap_and_smtp_share_one_cached_token(box: Container, oauth: FakeOAuth, smtp_oauth: Any) -> None:
    poll_once(box)
    mail.make_sender(box.channel_config("email")).send(answer())
    assert len(oauth.token_requests()) == 1 and smtp_oauth.logins == [oauth.issued[0]]


def test_smtp_refused_token_is_refreshed_and_the_answer_still_goes(
    box: Container, oauth: FakeOAuth, smtp_oauth: Any
) -> None:
    sender = mail.make_sender(box.channel_config("email"))
    sender.send(answer(1))
    oauth.expire(oauth.issued[0])
    sender.send(answer(2))
    assert len(smtp_oauth.messages) == 2 and smtp_oauth.logins == oauth.issued


def test_smtp_with_a_revoked_refresh_token_keeps_the_answer_waiting_with_the_reason(
    box: Container, oauth: FakeOAuth
) -> None:
    # The office's sign-in is broken, not the answer: it is retried, not given up.
    oauth.refresh_tokens.clear()
    with pytest.raises(TemporaryFailure, match="invalid_grant"):
        mail.make_sender(box.channel_config("email")).send(answer())


# -- configuration and the password sign-in that stays ------------------------------------------


def test_password_sign_in_still_works_on_the_same_server(
    box: Container, oauth: FakeOAuth, oauth_mailbox: Mailbox
) -> None:
    box.settings.channels["email"]["auth"] = "password"
    env_of(box.settings)["ADUAN_IMAP_PASSWORD"] = PASSWORD
    oauth_mailbox.append(citizen_mail(1))
    assert poll_once(box).stored == 1
    assert oauth.requests == []  # no token asked for


def test_oauth2_without_refresh_token_names_the_missing_variable(
    wired: dict[str, Any], settings: config_mod.Settings
) -> None:
    env_of(settings).pop(email_oauth.REFRESH_TOKEN_ENV, None)
    env_of(settings).pop(email_oauth.CLIENT_SECRET_ENV, None)
    assert settings.missing_secrets() == [
        f"email: {email_oauth.REFRESH_TOKEN_ENV}",
        f"email: {email_oauth.CLIENT_SECRET_ENV}",
    ]


def test_unknown_auth_method_is_refused_with_the_known_ones(config_data: dict[str, Any]) -> None:
    config_data["channels"]["email"]["auth"] = "kerberos"
    with pytest.raises(config_mod.ConfigError, match="known: password, oauth2"):
        config_mod.from_dict(config_data, env={})


def test_oauth2_without_client_id_is_refused_at_load(config_data: dict[str, Any]) -> None:
    config_data["channels"]["email"].update(auth="oauth2", oauth_provider="microsoft")
    with pytest.raises(config_mod.ConfigError, match="oauth_client_id"):
        config_mod.from_dict(config_data, env={})
