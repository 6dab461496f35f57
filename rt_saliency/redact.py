"""Keep credentials embedded in URLs out of logs and error messages.

Two complementary mechanisms, both applied by :func:`redact_url`:

* **Structure.**  Every ``scheme://`` in a text starts a URL; its userinfo (``user:password@``)
  ends at the *last* ``@`` that is followed by something shaped like a host (``name``, ``1.2.3.4``,
  ``[::1]``, optionally ``:port``), so ``rtsp://admin:p@ss/w rd#1@host/x`` loses all of
  ``admin:p@ss/w rd#1``.  Query parameters whose name says they carry a secret (``password``,
  ``pass``, ``token``, ``key``, ``auth``, ``user`` ...) have their value replaced.  Where a text is
  ambiguous (an ``@`` later in the same line that follows a host-like word) it is over-redacted,
  never under-redacted.
* **Known secrets.**  :func:`register_url` remembers the secrets of a URL the program opens
  (passwords and secret query values, raw and percent-decoded), and every later text has them
  masked wherever they appear -- e.g. in an FFmpeg message that prints the decoded password.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote, unquote

#: what replaces a secret
MASK = "***"
#: words that mark a query parameter's value as a secret (matched inside the lower-cased name)
SECRET_PARAM_WORDS: tuple[str, ...] = (
    "pass", "pwd", "token", "key", "auth", "secret", "sig", "cred", "user", "login", "session",
)
#: registered secrets shorter than this are not masked everywhere (they would mask common words);
#: the structural redaction still hides them inside URLs
MIN_KNOWN_SECRET = 4

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~%")
_QUOTES = "'\""
#: characters that end a query value in free text (not ``#``: it may be part of a password)
_VALUE_END = frozenset("&; \t\r\n'\"")

_known: set[str] = set()
_known_lock = threading.Lock()


def _scheme_start(text: str, sep: int) -> int | None:
    """Index where the scheme ending at ``text[sep] == ':'`` starts, or None if there is none."""
    start = sep
    while start > 0 and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    while start < sep and not text[start].isalpha():  # a scheme starts with a letter
        start += 1
    return start if start < sep else None


def _url_starts(text: str) -> list[tuple[int, int]]:
    """(scheme start, authority start) of every ``scheme://`` in ``text``."""
    found = []
    pos = text.find("://")
    while pos != -1:
        start = _scheme_start(text, pos)
        if start is not None:
            found.append((start, pos + 3))
        pos = text.find("://", pos + 3)
    return found


def _host_end(text: str, pos: int, end: int) -> int | None:
    """If ``text[pos:end]`` starts with ``host[:port]`` followed by a delimiter, where it ends."""
    i = pos
    if i < end and text[i] == "[":  # IPv6 literal
        close = text.find("]", i, end)
        if close == -1:
            return None
        i = close + 1
    else:
        while i < end and text[i] in _HOST_CHARS:
            i += 1
        if i == pos:
            return None
    if i < end and text[i] == ":":
        j = i + 1
        while j < end and text[j].isdigit():
            j += 1
        i = j
    if i < end and (text[i].isalnum() or text[i] in ":@"):
        return None
    return i


def _userinfo_at(text: str, start: int, end: int) -> int | None:
    """Index of the ``@`` that ends the userinfo of the URL whose authority starts at ``start``
    (the last ``@`` before ``end`` followed by a host), or None when there is no userinfo."""
    at = text.rfind("@", start, end)
    while at != -1:
        if _host_end(text, at + 1, end) is not None:
            return at
        at = text.rfind("@", start, at)
    return None


def _is_secret_param(name: str) -> bool:
    key = "".join(ch for ch in unquote(name).lower() if ch.isalnum())
    return any(word in key for word in SECRET_PARAM_WORDS)


def _redact_query(text: str, start: int, end: int) -> str:
    """``text[start:end]`` (a URL after its authority) with secret query values masked."""
    part = text[start:end]
    query = part.find("?")
    if query == -1:
        return part
    out = [part[: query + 1]]
    i = query + 1
    while i < len(part):
        j = i
        while j < len(part) and part[j] not in _VALUE_END:
            j += 1
        field = part[i:j]
        name, eq, value = field.partition("=")
        if eq and _is_secret_param(name):
            tail = ""
            if j == len(part):  # the URL's last value: punctuation of the sentence stays
                kept = value.rstrip(":,.)")
                tail = value[len(kept):]
            field = f"{name}={MASK}{tail}"
        out.append(field)
        if j < len(part):
            out.append(part[j])
            if part[j] not in "&;":  # the URL ends here (space, quote, fragment ...)
                out.append(part[j + 1:])
                break
        i = j + 1
    return "".join(out)


def _span_end(text: str, scheme_start: int, authority: int, next_start: int) -> int:
    """Where the URL starting at ``scheme_start`` ends at the latest: the end of the line, the
    next URL, or the closing quote when the URL is quoted."""
    end = min(next_start, len(text))
    newline = text.find("\n", authority, end)
    if newline != -1:
        end = newline
    if scheme_start > 0 and text[scheme_start - 1] in _QUOTES:
        close = text.rfind(text[scheme_start - 1], authority, end)
        if close != -1:
            end = close
    return end


def _redact_structure(text: str) -> str:
    starts = _url_starts(text)
    if not starts:
        return text
    out: list[str] = []
    done = 0
    for n, (scheme_start, authority) in enumerate(starts):
        if scheme_start < done:
            continue
        next_start = starts[n + 1][0] if n + 1 < len(starts) else len(text)
        end = _span_end(text, scheme_start, authority, next_start)
        out.append(text[done:authority])
        at = _userinfo_at(text, authority, end)
        host = authority
        if at is not None:
            out.append(f"{MASK}@")
            host = at + 1
        host_end = _host_end(text, host, end)
        rest = host if host_end is None else host_end
        out.append(text[host:rest])
        token_end = rest
        while token_end < end and text[token_end] not in " \t\r\n'\"":
            token_end += 1
        out.append(_redact_query(text, rest, token_end))
        done = token_end
    out.append(text[done:])
    return "".join(out)


def url_secrets(url: str) -> list[str]:
    """The secrets inside ``url``: its userinfo, password and secret query values, each raw,
    percent-decoded and percent-encoded (the forms a library may print)."""
    found: list[str] = []
    for _scheme_start_i, authority in _url_starts(url)[:1]:
        at = _userinfo_at(url, authority, len(url))
        host = authority
        if at is not None:
            userinfo = url[authority:at]
            found.append(userinfo)
            _user, colon, password = userinfo.partition(":")
            if colon:
                found.append(password)
            host = at + 1
        host_end = _host_end(url, host, len(url))
        rest = url[host if host_end is None else host_end:]
        _path, question, query = rest.partition("?")
        if question:
            for field in query.split("#", 1)[0].split("&"):
                name, eq, value = field.partition("=")
                if eq and value and _is_secret_param(name):
                    found.append(value)
    forms: list[str] = []
    for secret in found:
        for form in (secret, unquote(secret), unquote(secret.replace("+", " ")),
                     quote(unquote(secret), safe="")):
            if form and form not in forms:
                forms.append(form)
    return forms


def register_url(url: str) -> None:
    """Remember the secrets of ``url`` so that :func:`redact_url` masks them in any text."""
    secrets = [s for s in url_secrets(url) if len(s) >= MIN_KNOWN_SECRET]
    with _known_lock:
        _known.update(secrets)


def forget_secrets() -> None:
    """Drop every registered secret (tests)."""
    with _known_lock:
        _known.clear()


def redact_url(text: str) -> str:
    """``text`` with URL credentials and secret query values replaced by ``***``, and every
    registered secret (:func:`register_url`) masked wherever it appears."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:  # longest first: a password inside a userinfo goes with it
        if secret in text:
            text = text.replace(secret, MASK)
    return _redact_structure(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URL credentials from every record it sees, tracebacks
    included (``log.exception`` of an error whose message embeds a URL)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_url(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_url(record.stack_info)
        return True
