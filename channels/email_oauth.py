"""OAuth2 sign-in of the e-mail channel: access tokens from a refresh token, and the XOAUTH2 exchange.

Docs: RFC 6749 §6 (refresh grant), RFC 8628 (device flow), RFC 8252 (loopback redirect), RFC 7636
(PKCE); Gmail https://developers.google.com/gmail/imap/xoauth2-protocol; Microsoft 365
https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth

The token endpoint is spoken to by Authlib's ``OAuth2Session`` (https://docs.authlib.org/): the
refresh token comes from ``ADUAN_IMAP_OAUTH_REFRESH_TOKEN``, access tokens are kept in memory by one
:class:`TokenSource` per mailbox and process, and refreshed ``oauth_refresh_before`` seconds before
they expire (Authlib's ``leeway``). IMAP (``channels/imap_poller.py``), SMTP (``channels/email.py``) and
``aduan email check`` share that source, so one refresh serves them all.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# Only the standard library at import time: ``app.settings`` imports this module, and the CLI's
# start-up must not pay for Authlib, requests or imapclient (the functions below import them lazily).
if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

log = logging.getLogger("aduan.channels.email")

#: ``[channels.email] auth``: how Aduan signs in to the mailbox (IMAP and SMTP alike).
AUTH_METHODS = ("password", "oauth2")
REFRESH_TOKEN_ENV = "ADUAN_IMAP_OAUTH_REFRESH_TOKEN"
CLIENT_SECRET_ENV = "ADUAN_IMAP_OAUTH_CLIENT_SECRET"
#: Scope words that are not a mailbox permission (asked for, but never required in the answer).
_NOT_MAIL_SCOPES = frozenset({"offline_access", "openid", "email", "profile"})


@dataclass(frozen=True)
class Provider:
    """The endpoints and scope of one mail provider's OAuth2 server (``{tenant}`` filled in)."""

    authorize_url: str
    token_url: str
    #: RFC 8628 device authorization endpoint; "" when the provider refuses mail scopes there.
    device_url: str
    scope: str
    #: The flow ``aduan email authorize`` uses unless told otherwise.
    flow: str
    #: Extra parameters of the authorization request (Google returns a refresh token only with these).
    authorize_params: tuple[tuple[str, str], ...] = ()


PROVIDERS: dict[str, Provider] = {
    # Google gives no mail scope to the device flow ("limited-input devices"): loopback only.
    "google": Provider(
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        device_url="",
        scope="https://mail.google.com/",
        flow="loopback",
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    ),
    "microsoft": Provider(
        authorize_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        device_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        scope=(
            "offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
            "https://outlook.office.com/SMTP.Send"
        ),
        flow="device",
    ),
}


class OAuthConfigError(ValueError):
    """``[channels.email]`` asks for OAuth2 but a key is missing or unknown."""


def auth_method(table: Mapping[str, Any]) -> str:
    """Return ``[channels.email] auth`` (``password`` or ``oauth2``), refusing an unknown value."""
    method = str(table.get("auth", "password")).lower()
    if method not in AUTH_METHODS:
        raise OAuthConfigError(f"channels.email.auth {method!r} unknown; known: {', '.join(AUTH_METHODS)}")
    return method


@dataclass(frozen=True)
class OAuthSettings:
    """The ``oauth_*`` keys of ``[channels.email]`` and the two secrets of the environment."""

    provider: str
    client_id: str
    client_secret: str | None
    refresh_token: str
    token_url: str
    authorize_url: str
    device_url: str
    scope: str
    #: Seconds before an access token's expiry at which it is refreshed (and an IMAP session renewed).
    refresh_before: float = 300.0
    timeout: float = 30.0
    authorize_params: tuple[tuple[str, str], ...] = ()
    default_flow: str = "loopback"

    @property
    def mail_scopes(self) -> frozenset[str]:
        """The scope words the mailbox needs (``offline_access`` and the like left out)."""
        return frozenset(self.scope.split()) - _NOT_MAIL_SCOPES

    @classmethod
    def of(
        cls, table: Mapping[str, Any], secrets: Mapping[str, str], *, need_refresh_token: bool = True
    ) -> OAuthSettings:
        """Read the settings; ``need_refresh_token=False`` for ``aduan email authorize`` (it makes one)."""
        name = str(table.get("oauth_provider", "google")).lower()
        known = PROVIDERS.get(name)
        if known is None and name != "custom":
            raise OAuthConfigError(
                f"channels.email.oauth_provider {name!r} unknown; known: {', '.join([*PROVIDERS, 'custom'])}"
            )
        tenant = str(table.get("oauth_tenant") or "organizations")

        def pick(key: str, default: str) -> str:
            return str(table.get(key) or default.replace("{tenant}", tenant))

        client_id = str(table.get("oauth_client_id") or "")
        if not client_id:
            raise OAuthConfigError("channels.email.oauth_client_id is not set (the app registration's id)")
        token_url = pick("oauth_token_url", known.token_url if known else "")
        if not token_url:
            raise OAuthConfigError("channels.email.oauth_token_url is not set (needed for provider custom)")
        refresh = secrets.get(REFRESH_TOKEN_ENV) or ""
        if need_refresh_token and not refresh:
            raise OAuthConfigError(
                f"channel email: environment variable {REFRESH_TOKEN_ENV} is not set "
                "(run `aduan email authorize` once to get it)"
            )
        return cls(
            provider=name,
            client_id=client_id,
            client_secret=secrets.get(CLIENT_SECRET_ENV) or None,
            refresh_token=refresh,
            token_url=token_url,
            authorize_url=pick("oauth_authorize_url", known.authorize_url if known else ""),
            device_url=pick("oauth_device_url", known.device_url if known else ""),
            scope=pick("oauth_scope", known.scope if known else ""),
            refresh_before=float(table.get("oauth_refresh_before", 300)),
            timeout=float(table.get("oauth_timeout", 30)),
            authorize_params=known.authorize_params if known else (),
            default_flow=known.flow if known else "loopback",
        )


class TokenError(Exception):
    """The token endpoint refused (``error`` is its OAuth2 error code) or could not be reached."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error, self.description = error, description


def oauth_client(settings: OAuthSettings, **kwargs: Any) -> OAuth2Session:
    """Return an Authlib client for the provider's token endpoint (``aduan email authorize`` uses it too)."""
    # Lazy: Authlib and requests take ~0.2 s to import, which only a mailbox signing in with OAuth2
    # should pay; the CLI's start-up (and every command that is not about e-mail) stays fast.
    # (Authlib's requests client, not its httpx one: that one is deprecated in favour of httpx2.)
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        # Google and Microsoft both take the client's credentials in the form body.
        token_endpoint_auth_method="client_secret_post" if settings.client_secret else "none",
        scope=settings.scope,
        token_endpoint=settings.token_url,
        leeway=int(settings.refresh_before),
        default_timeout=settings.timeout,
        **kwargs,
    )


def token_error(exc: Exception) -> TokenError:
    """Translate what Authlib or requests raised into a :class:`TokenError`."""
    # Lazy for the same reason as in ``oauth_client``.
    import requests
    from authlib.integrations.base_client import OAuthError

    if isinstance(exc, TokenError):
        return exc
    if isinstance(exc, OAuthError):
        return TokenError(str(exc.error or "invalid_request"), str(exc.description or ""))
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return TokenError("server_error", f"HTTP {status}")
    if isinstance(exc, requests.RequestException):
        return TokenError("unreachable", type(exc).__name__)
    return TokenError("invalid_response", type(exc).__name__)


class TokenSource:
    """Access tokens of one mailbox, cached in memory and refreshed before they expire (thread-safe)."""

    def __init__(self, settings: OAuthSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client: OAuth2Session | None = None
        #: How many times the token endpoint gave a new access token (``signin`` tells a brand-new
        #: token, which is not refreshed again when refused, from a cached one, which is).
        self.refreshes = 0
        self.granted: frozenset[str] | None = None

    def _session(self) -> OAuth2Session:
        if self._client is None:
            # expires_at 0: the first call refreshes (Authlib's ensure_active_token sees it expired).
            token = {
                "access_token": "",
                "token_type": "Bearer",
                "expires_at": 0,
                "refresh_token": self.settings.refresh_token,
            }
            self._client = oauth_client(self.settings, token=token)
        return self._client

    def access_token(self) -> str:
        """Return a valid access token, refreshing it first when it expires within ``refresh_before``."""
        with self._lock:
            client = self._session()
            before = client.token.get("access_token")
            try:
                client.ensure_active_token(client.token)
            except Exception as exc:  # Authlib's OAuthError, requests' errors, a body that is not JSON
                raise token_error(exc) from exc
            token = client.token
            if token.get("access_token") != before:
                self.refreshes += 1
                scope = token.get("scope")
                self.granted = frozenset(str(scope).split()) if scope else None
                log.info("e-mail OAuth2 access token refreshed (expires in %s s)", token.get("expires_in"))
            access = str(token.get("access_token") or "")
            if not access:
                raise TokenError("invalid_response", "the token endpoint returned no access_token")
            return access

    def expires_at(self) -> float | None:
        """Return when the cached access token expires (epoch seconds), None when unknown."""
        with self._lock:
            value = self._client.token.get("expires_at") if self._client is not None else None
            return float(value) if isinstance(value, int | float) else None

    def renew_at(self) -> float | None:
        """Return when a session signed in with the cached token should sign in again."""
        expires = self.expires_at()
        return None if expires is None else expires - self.settings.refresh_before

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` (the server refused it): the next call refreshes."""
        with self._lock:
            if self._client is not None and self._client.token.get("access_token") == access_token:
                self._client.token["expires_at"] = 0

    def missing_scopes(self) -> list[str]:
        """Return the mail scopes the last token did not grant ([] when the server did not say)."""
        if self.granted is None:
            return []
        return sorted(self.settings.mail_scopes - self.granted)


_SOURCES: dict[OAuthSettings, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def source(settings: OAuthSettings) -> TokenSource:
    """Return this process's token source of a mailbox (one cache for IMAP, SMTP and the CLI)."""
    with _SOURCES_LOCK:
        found = _SOURCES.get(settings)
        if found is None:
            found = _SOURCES[settings] = TokenSource(settings)
        return found


def forget_tokens() -> None:
    """Drop every cached access token of this process (after the refresh token changed; tests)."""
    with _SOURCES_LOCK:
        _SOURCES.clear()


class Xoauth2:
    """The XOAUTH2 SASL exchange: the initial response, then an empty answer to an error challenge.

    A server that refuses the token sends a base64 JSON challenge (``{"status":"401",...}``) and
    waits for an empty line before its final ``NO``/``535``; the JSON is kept in ``error``.
    The object is the callback of both ``imaplib`` (via imapclient) and ``smtplib.SMTP.auth``.
    """

    def __init__(self, user: str, access_token: str) -> None:
        self.user, self.access_token = user, access_token
        self.error: dict[str, Any] | None = None
        self._sent = False

    def __call__(self, challenge: bytes | None = None) -> str:
        if not self._sent and not challenge:
            self._sent = True
            return f"user={self.user}\x01auth=Bearer {self.access_token}\x01\x01"
        try:
            data = json.loads(challenge or b"{}")
        except ValueError:
            data = {"challenge": (challenge or b"").decode("utf-8", "replace")[:200]}
        self.error = data if isinstance(data, dict) else {"challenge": str(data)[:200]}
        return ""

    def detail(self) -> str:
        """Return the server's error challenge as a short text ("" when there was none)."""
        return json.dumps(self.error, sort_keys=True) if self.error else ""


def signin(
    attempt: Callable[[Xoauth2], Any], user: str, tokens: TokenSource, refused: type[Exception]
) -> None:
    """Run one XOAUTH2 exchange (``attempt``); when the server refuses the token, refresh and retry once.

    ``refused`` is the protocol's "authentication failed" exception (imapclient's ``LoginError``,
    ``smtplib.SMTPAuthenticationError``); it is re-raised with the server's JSON reason as a note.
    """
    for last in (False, True):
        before = tokens.refreshes
        token = tokens.access_token()
        just_refreshed = tokens.refreshes != before
        mech = Xoauth2(user, token)
        try:
            attempt(mech)
            return
        except refused as exc:
            # A token the server no longer takes (revoked, or its session ended early): refresh and
            # try again, unless it was brand new, when a second try would be refused the same way.
            tokens.invalidate(token)
            if last or just_refreshed:
                if mech.error:
                    exc.add_note(mech.detail())  # why, in the server's words (``aduan email check``)
                raise


# -- getting the refresh token once (``aduan email authorize``) ------------------------------------

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class DeviceCode:
    """What the administrator types where (RFC 8628 §3.2)."""

    device_code: str
    user_code: str
    verification_uri: str
    expires_in: float
    interval: float


def start_device_flow(settings: OAuthSettings) -> DeviceCode:
    """Ask the provider for a user code (RFC 8628 device authorization request)."""
    if not settings.device_url:
        raise TokenError("unsupported_flow", f"provider {settings.provider} has no device flow for mail")
    client = oauth_client(settings)
    try:
        response = client.post(
            settings.device_url,
            data={"client_id": settings.client_id, "scope": settings.scope},
            withhold_token=True,
        )
        data = response.json()
    except Exception as exc:  # requests' errors, a body that is not JSON
        raise token_error(exc) from exc
    if "error" in data or "device_code" not in data:
        raise TokenError(str(data.get("error", "invalid_response")), str(data.get("error_description", "")))
    return DeviceCode(
        device_code=str(data["device_code"]),
        user_code=str(data["user_code"]),
        # RFC 8628 says verification_uri; Google's older endpoint said verification_url.
        verification_uri=str(data.get("verification_uri") or data.get("verification_url") or ""),
        expires_in=float(data.get("expires_in", 900)),
        interval=float(data.get("interval", 5)),
    )


def finish_device_flow(
    settings: OAuthSettings, code: DeviceCode, *, wait: Callable[[float], object]
) -> dict[str, Any]:
    """Poll the token endpoint until the administrator has consented; return the token.

    ``wait(seconds)`` sleeps between polls (RFC 8628 §3.5: ``interval``, five more on ``slow_down``).
    """
    client = oauth_client(settings)
    interval, waited = code.interval, 0.0
    while True:
        try:
            return dict(
                client.fetch_token(settings.token_url, grant_type=DEVICE_GRANT, device_code=code.device_code)
            )
        except Exception as exc:
            error = token_error(exc)
            if error.error == "slow_down":
                interval += 5
            elif error.error != "authorization_pending":
                raise error from exc
        if waited >= code.expires_in:
            raise TokenError("expired_token", "the code was not entered in time")
        wait(interval)
        waited += max(interval, 1.0)


def loopback_flow(
    settings: OAuthSettings,
    *,
    show: Callable[[str], object],
    port: int = 0,
    pasted: Callable[[], str] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Authorization-code flow with PKCE and a loopback redirect (RFC 8252 §7.3); return the token.

    ``show(url)`` hands the consent page's address to the administrator. The browser comes back
    to ``http://127.0.0.1:<port>/``, where a one-request listener takes the code; with ``pasted``
    nothing listens and the administrator pastes the address the browser ended on (over SSH).
    """
    # Lazy, as in ``oauth_client``: only ``aduan email authorize`` needs these.
    from authlib.common.security import generate_token

    listener = None if pasted else _Loopback(port)
    redirect_port = listener.port if listener else (port or 8400)
    redirect_uri = (
        f"http://{'localhost' if settings.provider == 'microsoft' else '127.0.0.1'}:{redirect_port}/"
    )
    client = oauth_client(settings, redirect_uri=redirect_uri, code_challenge_method="S256")
    verifier = generate_token(64)
    url, state = client.create_authorization_url(
        settings.authorize_url, code_verifier=verifier, **dict(settings.authorize_params)
    )
    try:
        show(url)
        answer = pasted() if pasted else listener.wait(timeout) if listener else ""
    finally:
        if listener:
            listener.close()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.strip()).query))
    if "error" in query:
        raise TokenError(query["error"], query.get("error_description", ""))
    if "code" not in query:
        raise TokenError("invalid_request", "the address holds no authorization code")
    if query.get("state") != state:
        raise TokenError("invalid_state", "the address belongs to another attempt: start again")
    try:
        token = client.fetch_token(
            settings.token_url, grant_type="authorization_code", code=query["code"], code_verifier=verifier
        )
    except Exception as exc:
        raise token_error(exc) from exc
    return dict(token)


class _Loopback:
    """A one-shot HTTP listener on 127.0.0.1 that keeps the first request's address (the redirect)."""

    def __init__(self, port: int) -> None:
        self.got: list[str] = []
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not got and "?" in self.path:
                    got.append(self.path)
                body = (
                    b"<html><body><h1>Aduan: izin diterima.</h1>"
                    b"<p>Kembali ke terminal. (You may close this window.)</p></body></html>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # the address holds the code: never logged
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])

    def wait(self, timeout: float) -> str:
        self.server.timeout = 1.0
        deadline = time.monotonic() + timeout
        while not self.got and time.monotonic() < deadline:
            self.server.handle_request()
        if not self.got:
            raise TokenError("timeout", "no answer from the browser")
        return self.got[0]

    def close(self) -> None:
        self.server.server_close()
