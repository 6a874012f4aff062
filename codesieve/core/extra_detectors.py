"""Detectors detect-secrets 1.5.0 lacks, written as its RegexBasedDetector plugins so they run
through the same scan, heuristics and redaction as the others (issue 13, "Secrets").

- OpenAI's project, service-account and admin keys (`sk-proj-...`, `sk-svcacct-...`,
  `sk-admin-...`): detect-secrets' OpenAIDetector needs the `T3BlbkFJ` marker with 20 alphanumerics
  on both sides, which current project keys (with `-`/`_`, or without the marker) do not have.
- A password in a URL that contains an RFC 3986 sub-delimiter (`!$&'()*+,;=`): detect-secrets'
  BasicAuthDetector excludes those characters, so `postgresql://user:pw!x@host/db` was not found.
  Only passwords holding one are matched here, so the two detectors never report the same span.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector


class OpenAIProjectKeyDetector(RegexBasedDetector):
    """OpenAI API keys with a `proj`/`svcacct`/`admin` prefix (format documented by OpenAI, 2024)."""

    secret_type = "OpenAI Project Key"
    # Starts only where a token starts (the look-behind), so `sk-proj-` * N is scanned once, not
    # once per copy; 20 key characters at least after the prefix (real keys have ~150). Keys that
    # OpenAIDetector already reports (marker with 20 alphanumerics each side) are left to it.
    denylist = [
        re.compile(
            r"(?<![A-Za-z0-9_-])sk-(?:proj|svcacct|admin)-"
            r"(?![A-Za-z0-9_-]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})[A-Za-z0-9_-]{20,}"
        )
    ]


class UrlPasswordDetector(RegexBasedDetector):
    """`scheme://user:password@` where the password holds a sub-delimiter BasicAuthDetector excludes."""

    secret_type = "URL Password"
    denylist = [re.compile(r"://[^\s:/?#\[\]@{}]+:([^\s/?#\[\]@{}]*[!$&'()*+,;=][^\s/?#\[\]@{}]*)@")]
