"""URL credentials never reach logs or errors: userinfo of every shape, secret query parameters,
URLs embedded in error text, registered secrets in decoded form, log records and tracebacks."""

from __future__ import annotations

import io
import logging

import pytest

from rt_saliency.redact import (
    MASK,
    RedactingFilter,
    forget_secrets,
    redact_url,
    register_url,
    url_secrets,
)


@pytest.fixture(autouse=True)
def _no_registered_secrets():
    forget_secrets()
    yield
    forget_secrets()


# (url, secrets that must vanish, what must remain)
USERINFO_CASES = [
    ("rtsp://admin:p@ssw0rd@host/x", ["admin", "p@ssw0rd", "ssw0rd"], "rtsp://***@host/x"),
    ("rtsp://admin:pa/ss@cam.local:554/stream", ["pa/ss", "admin"],
     "rtsp://***@cam.local:554/stream"),
    ("rtsp://admin:my pass@10.0.0.2/live", ["my pass", "admin", "pass"],
     "rtsp://***@10.0.0.2/live"),
    ("rtsp://admin:ha#sh@host/x", ["ha#sh", "sh@"], "rtsp://***@host/x"),
    ("rtsp://admin:p%40ss%2Fw%20rd@host/x", ["p%40ss", "admin"], "rtsp://***@host/x"),
    ("rtsp://admin:a?b=c@host/x", ["a?b=c"], "rtsp://***@host/x"),
    ("rtsp://admin:x:y:z@host:8554/x", ["x:y:z"], "rtsp://***@host:8554/x"),
    ("rtsp://admin:@host/x", ["admin"], "rtsp://***@host/x"),
    ("rtsp://admin@host/x", ["admin"], "rtsp://***@host/x"),
    ("rtsp://:secret@host/x", ["secret"], "rtsp://***@host/x"),
    ("rtsp://u:pw@[::1]:8554/x", ["u:pw"], "rtsp://***@[::1]:8554/x"),
    ("rtsps://u:p@w@d@h.example.com/x", ["p@w@d"], "rtsps://***@h.example.com/x"),
    ("http://u:p@ss@127.0.0.1:8080/", ["p@ss"], "http://***@127.0.0.1:8080/"),
    ("RTSP://Admin:Secret1@Host/x", ["Secret1", "Admin"], "RTSP://***@Host/x"),
    ("rtmp+tls://u:pw@h/app", ["u:pw"], "rtmp+tls://***@h/app"),
]


@pytest.mark.parametrize("url,secrets,expected", USERINFO_CASES)
def test_userinfo_of_every_shape_is_removed(url: str, secrets: list[str], expected: str) -> None:
    out = redact_url(url)
    assert out == expected
    for secret in secrets:
        assert secret not in out


QUERY_CASES = [
    ("rtsp://h/x?user=bob&password=hunter2", "rtsp://h/x?user=***&password=***"),
    ("rtsp://h/x?pass=hunter2&fps=30", "rtsp://h/x?pass=***&fps=30"),
    ("rtsp://h/x?passwd=a&pwd=b", "rtsp://h/x?passwd=***&pwd=***"),
    ("http://h/x?token=abc.def&channel=1", "http://h/x?token=***&channel=1"),
    ("http://h/x?access_token=t1&api_key=k1&apikey=k2", "http://h/x?access_token=***&api_key=***"
                                                        "&apikey=***"),
    ("http://h/x?key=k&auth=a&Authorization=Basic", "http://h/x?key=***&auth=***"
                                                    "&Authorization=***"),
    ("http://h/x?X-Amz-Signature=s1&X-Amz-Credential=c1", "http://h/x?X-Amz-Signature=***"
                                                          "&X-Amz-Credential=***"),
    ("http://h/x?pass%77ord=hidden", "http://h/x?pass%77ord=***"),
    ("http://h/x?password=ab#cd", "http://h/x?password=***"),
    ("http://h/x?password=p%26q&n=2", "http://h/x?password=***&n=2"),
    ("http://h/x?password=&n=2", "http://h/x?password=***&n=2"),
    ("http://h/x?channel=1&subtype=0", "http://h/x?channel=1&subtype=0"),
    ("rtsp://u:pw@h/x?token=t", "rtsp://***@h/x?token=***"),
]


@pytest.mark.parametrize("url,expected", QUERY_CASES)
def test_secret_query_parameters_are_masked(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_urls_inside_error_messages_are_redacted() -> None:
    # the shapes PyAV / FFmpeg exceptions take: the URL quoted, followed by text, several URLs
    msgs = {
        "[Errno 111] Connection refused: 'rtsp://admin:p@ssw0rd@127.0.0.1:9/x'":
            "[Errno 111] Connection refused: 'rtsp://***@127.0.0.1:9/x'",
        "[Errno 5] Input/output error: \"rtsp://u:my pass@h/x\"":
            "[Errno 5] Input/output error: \"rtsp://***@h/x\"",
        "rtsp://u:pw@h/x: Server returned 401 Unauthorized (authorization failed)":
            "rtsp://***@h/x: Server returned 401 Unauthorized (authorization failed)",
        "from rtsp://a:b@h1/x to rtsps://c:d@h2/y?token=z done":
            "from rtsp://***@h1/x to rtsps://***@h2/y?token=*** done",
        "line one rtsp://a:pw1@h/x\nline two rtsp://h/y":
            "line one rtsp://***@h/x\nline two rtsp://h/y",
    }
    for text, expected in msgs.items():
        assert redact_url(text) == expected


def test_text_without_credentials_is_left_alone() -> None:
    for text in ("rtsp://127.0.0.1:8554/test", "[rtsp @ 0x55d0c0] method DESCRIBE failed: 404",
                 "synth://320x240?frames=30&fps=30", "clip@2x.mp4: no such file",
                 "mailto user@example.com", "rtsp://h/x failed [rtsp @ 0x55] 401", ""):
        assert redact_url(text) == text


def test_ambiguous_at_sign_is_over_redacted_never_leaked() -> None:
    # '@' in a path is indistinguishable from a password containing '/': hide, not leak
    assert redact_url("rtsp://h/x?email=a@b") == "rtsp://***@b"


def test_registered_secrets_are_masked_in_any_form() -> None:
    url = "rtsp://admin:p%40ss%20word@cam/x?token=t0k3n+val"
    register_url(url)
    # decoded, encoded and raw forms printed by a library without the URL around them
    for leak in ("p@ss word", "p%40ss%20word", "t0k3n val", "t0k3n+val"):
        assert leak not in redact_url(f"auth failed for {leak} (401)")
    assert redact_url("password p@ss word rejected") == f"password {MASK} rejected"


def test_short_registered_secrets_are_not_masked_everywhere() -> None:
    register_url("rtsp://u:ab@h/x")
    assert redact_url("about tab") == "about tab"
    assert redact_url("rtsp://u:ab@h/x") == "rtsp://***@h/x"


def test_url_secrets_lists_raw_and_decoded_forms() -> None:
    forms = url_secrets("rtsp://u:p%40ss@h/x?pass=a+b&n=1")
    assert {"u:p%40ss", "p%40ss", "p@ss", "a+b", "a b"} <= set(forms)
    assert url_secrets("rtsp://h/x?n=1") == []
    assert url_secrets("-") == []


def test_logging_filter_redacts_messages_args_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test_redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("open %s failed", "rtsp://admin:p@ssw0rd@h/x?password=hunter2")
        try:
            raise OSError("cannot open 'rtsp://root:t/op secret@h/x'")
        except OSError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "rtsp://***@h/x?password=***" in text
    assert "rtsp://***@h/x'" in text
    for secret in ("p@ssw0rd", "ssw0rd", "hunter2", "t/op secret", "root"):
        assert secret not in text


def test_sentence_punctuation_after_a_masked_value_stays() -> None:
    assert (redact_url("rtsp://h/x?user=bob&password=hunter2: cannot open (refused)")
            == "rtsp://h/x?user=***&password=***: cannot open (refused)")
    assert redact_url("see (http://h/?token=abc).") == "see (http://h/?token=***)."
