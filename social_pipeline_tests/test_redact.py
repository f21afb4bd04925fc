"""Tokens never leave the process: URLs, headers, bodies and messages are scrubbed."""

from __future__ import annotations

from social_pipeline.clients.redaction import REDACTED, Redactor


def test_known_tokens_and_credential_shapes_are_removed_from_text() -> None:
    r = Redactor(["EAAB-secret-token"])
    text = (
        "GET https://graph.facebook.com/v24.0/1/posts?access_token=EAAB-secret-token&after=x "
        "Authorization: Bearer other-token key=AIzaXYZ echo EAAB-secret-token"
    )
    out = r.text(text)
    assert "EAAB-secret-token" not in out and "other-token" not in out and "AIzaXYZ" not in out
    assert "after=x" in out and out.count(REDACTED) >= 3


def test_secret_keys_are_blanked_in_nested_data() -> None:
    r = Redactor(["tok123"])
    data = {
        "paging": {"next": "https://h/p?access_token=tok123&after=A"},
        "access_token": "zzz",
        "n": [1, "tok123"],
    }
    out = r.data(data)
    assert out == {
        "paging": {"next": f"https://h/p?access_token={REDACTED}&after=A"},
        "access_token": REDACTED,
        "n": [1, REDACTED],
    }


def test_library_debug_logs_of_request_urls_are_scrubbed(caplog) -> None:  # noqa: ANN001
    import logging

    import social_pipeline.clients.http  # noqa: F401  (installs the filter)

    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s',
        "http",
        "127.0.0.1",
        80,
        "GET",
        "/youtube/v3/channels?key=AIza-SECRET&id=UC1",
        "HTTP/1.1",
        200,
    )
    assert "AIza-SECRET" not in caplog.text
    assert "id=UC1" in caplog.text
