"""Keeping access tokens out of everything the product writes or says."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "***"

# Names under which a credential travels in a URL, a header or a body.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "key",
        "token",
        "authorization",
        "client_secret",
        "refresh_token",
        "access-token",
        "fb_exchange_token",
        "input_token",
        "code_verifier",
    }
)

_QUERY_SECRET = re.compile(
    r"(?i)\b(access_token|key|token|client_secret|refresh_token|fb_exchange_token|input_token"
    r"|code|code_verifier)=([^&\s\"']+)"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',]+")


class Redactor:
    """Removes known secret values and credential-shaped fragments from text and data.

    Known values are the tokens the run holds; the patterns catch credentials a platform
    echoes back in a form we did not predict (a `paging.next` URL, an error message).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        value = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
        return _BEARER.sub(f"Bearer {REDACTED}", value)

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like data with secrets removed from keys' values and strings."""
        if isinstance(value, dict):
            return {
                k: (REDACTED if str(k).lower() in SECRET_KEYS else self.data(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


class RedactingFilter(logging.Filter):
    """Scrubs credential-shaped text from log records of libraries we don't control.

    urllib3 logs every request URL at DEBUG, query string included: a `key=` or
    `access_token=` there would reach whatever handler a user configured.
    """

    def __init__(self) -> None:
        super().__init__()
        self._redactor = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction(
    logger_names: Iterable[str] = ("urllib3.connectionpool", "requests"),
) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
