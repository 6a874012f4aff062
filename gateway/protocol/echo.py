"""safe_echo(): how an error message may show a client's own string back to it (bounded, escaped)."""

from __future__ import annotations

_ECHO_MAX_CHARS = 64


def safe_echo(value: str, limit: int = _ECHO_MAX_CHARS) -> str:
    """`value` as a short ASCII literal: at most `limit` characters, non-printable and non-ASCII escaped.

    Error messages used to repeat a client's model name or completion id verbatim (issue 13): a
    megabyte-long string came back whole, and control characters went into clients' logs as is.
    """
    head = value[:limit]
    quoted = ascii(head)  # escapes \n, \x00, lone surrogates and every non-ASCII character
    return quoted if len(value) <= limit else f"{quoted}... ({len(value)} characters)"
