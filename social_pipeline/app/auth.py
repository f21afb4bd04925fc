"""`social-pipeline auth`: what each credential is and when it ends, and a browser login.

`auth login` is the authorization-code flow with a loopback redirect, as `gcloud` and
`gh` do it: a one-shot server on 127.0.0.1 receives the platform's redirect, the code is
exchanged at the token endpoint, and the tokens go straight into the credential store.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from social_pipeline.clients.oauth import OAuthClient, pkce_pair
from social_pipeline.clients.redaction import Redactor
from social_pipeline.core.platforms import LOGIN_SCOPES, REFRESHABLE
from social_pipeline.core.settings import Account, Settings, SettingsError
from social_pipeline.operations.credentials import CredentialHealth, credential_health
from social_pipeline.storage.credentials import CredentialStore, StoredCredential, lineage_of

STATUS_COLUMNS = (
    "platform",
    "account_id",
    "name",
    "kind",
    "access expires",
    "refresh expires",
    "last refresh",
    "status",
    "next step",
)


def status_rows(settings: Settings, now: datetime | None = None) -> list[CredentialHealth]:
    now = now or datetime.now(UTC)
    return credential_health(settings, list(settings.accounts), now)


def status_table(rows: list[CredentialHealth]) -> list[dict[str, Any]]:
    def day(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else ""

    return [
        dict(
            zip(
                STATUS_COLUMNS,
                (
                    r.platform,
                    r.account_id,
                    r.name,
                    r.kind,
                    day(r.access_expires_at),
                    day(r.refresh_expires_at),
                    day(r.last_refresh_at),
                    r.status,
                    r.next_step,
                ),
                strict=True,
            )
        )
        for r in rows
    ]


def find_account(settings: Settings, platform: str, account_id: str) -> Account:
    for account in settings.accounts_for(platform):
        if account.account_id == account_id:
            return account
    known = ", ".join(a.account_id for a in settings.accounts_for(platform)) or "none"
    raise SettingsError(
        f"no {platform} account {account_id!r} in "
        f"{settings.accounts_file or 'the built-in sandbox'} (known: {known})"
    )


class _Callback:
    """The one redirect the loopback server waits for."""

    def __init__(self) -> None:
        self.query: dict[str, str] = {}
        self.received = threading.Event()


def _server(callback: _Callback, port: int) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/callback":
                self.send_error(404)
                return
            callback.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body = b"<html><body>social-pipeline: authorized. You can close this tab.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            callback.received.set()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the query holds the code: keep it out of stderr

    return HTTPServer(("127.0.0.1", port), Handler)


def login(
    settings: Settings,
    platform: str,
    account_id: str,
    *,
    port: int = 0,
    open_url: Callable[[str], object] = webbrowser.open,
    say: Callable[[str], None] = print,
    timeout: float = 300.0,
) -> StoredCredential:
    """Authorize one account in the browser and store its tokens; returns what was stored."""
    account = find_account(settings, platform, account_id)
    if platform not in REFRESHABLE:
        raise SettingsError(
            f"{platform}: log in is for platforms with refresh tokens ({', '.join(REFRESHABLE)}); "
            "for Facebook and Instagram put a Page or long-lived user token in token_env and "
            "name the facebook app under apps: (it is then checked and extended automatically)"
        )
    app = settings.app_for(account)
    if app is None:
        raise SettingsError(
            f"{settings.accounts_file}: add apps.{platform} (client_id_env, client_secret_env) "
            "before logging in"
        )
    client_id = settings.secret(app.client_id_env)
    if not client_id:
        raise SettingsError(
            f"{app.client_id_env} is not set: export the {platform} app's client id"
        )
    client_secret = settings.secret(app.client_secret_env)
    if app.client_secret_env and not client_secret:
        raise SettingsError(f"{app.client_secret_env} is not set: export the app's client secret")
    redactor = Redactor()
    oauth = OAuthClient(
        platform, settings.token_urls[platform], client_id, client_secret, redactor=redactor
    )
    callback = _Callback()
    server = _server(callback, port)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    state = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair() if platform == "x" else (None, None)  # X requires PKCE
    url = oauth.authorize_url(
        settings.authorize_urls[platform], redirect_uri, state, LOGIN_SCOPES[platform], challenge
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        say(f"Open this address to authorize {platform} account {account_id} ({account.name}):")
        say(url)
        say(f"Waiting for the redirect to {redirect_uri} ...")
        open_url(url)
        if not callback.received.wait(timeout):
            raise SettingsError(f"no authorization arrived within {timeout:.0f} s; run it again")
    finally:
        server.shutdown()
        server.server_close()
    query = callback.query
    if query.get("state") != state:
        raise SettingsError("the redirect's state does not match this login; run it again")
    if "error" in query or "code" not in query:
        reason = query.get("error_description") or query.get("error") or "no code"
        raise SettingsError(f"{platform} did not authorize the app: {reason}")
    grant = oauth.exchange_code(query["code"], redirect_uri, account_id, code_verifier=verifier)
    if not grant.refresh_token:
        raise SettingsError(
            f"{platform} answered without a refresh token: check the app may ask for offline "
            "access (X: offline.access scope; Google: the consent screen)"
        )
    env_refresh = settings.secret(account.refresh_token_env)
    now = datetime.now(UTC)
    # The lineage starts from whatever refresh token the environment holds now, so that old
    # value does not take over from this login; a new one set later still does.
    cred = StoredCredential(
        platform=platform,
        account_id=account_id,
        kind="oauth",
        access_token=grant.access_token,
        access_expires_at=grant.expires_at,
        refresh_token=grant.refresh_token,
        refresh_expires_at=grant.refresh_expires_at,
        lineage=lineage_of(env_refresh) if env_refresh else "",
        last_refresh_at=now,
        refreshes=0,
        scopes=grant.scopes,
    )
    CredentialStore(settings.credentials_dir).save(cred)
    say(f"Stored {platform} account {account_id}'s tokens in {settings.credentials_dir}")
    return cred
