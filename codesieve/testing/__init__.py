"""Helpers that tests and benchmarks share: start/stop real services, reference scans, token makers.

Importable (benchmarks import no test code): `services` (vLLM and gateway processes),
`reference_scans` (detect-secrets' own per-line scan), `secret_tokens` (provider token makers),
`tools` (where the external tools tests run are, e.g. semgrep).
Never imported by product code.
"""
