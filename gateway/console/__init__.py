"""The operator console: server-rendered pages under /console (off with CODESIEVE_CONSOLE_ENABLED=false).

browser -> routes (session cookie, CSRF, audit) -> accounts (sessions, audit trail, API keys: SQL)
                                                -> queries (SQL over the telemetry tables and rollups)
                                                -> rollup (daily pre-aggregates, refreshed in the background)
                                                -> overview (pure rates) -> charts (matplotlib SVG)
                                                -> reports (the live A/B report: a callable the app is given)
        <- templates (Jinja2, autoescaped; no JavaScript)
"""
