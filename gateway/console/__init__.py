"""The operator console: server-rendered pages under /console (off with CODESIEVE_CONSOLE_ENABLED=false).

browser -> routes (session cookie, CSRF, audit) -> queries (SQL over the telemetry tables)
                                                -> overview (pure rates) -> charts (matplotlib SVG)
                                                -> reports (experiments.ab: the CLI's A/B report)
        <- templates (Jinja2, autoescaped; no JavaScript)
"""
