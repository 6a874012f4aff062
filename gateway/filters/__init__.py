"""Output and prompt filters: pure detectors feeding one chain.

text --> secret_scan (detect-secrets detectors) --+
     --> licence_text (SPDX / licence openings) --+--> chain.FilterChain --> FilterResult
     --> licensed (provenance vs LicensedIndex) --+        (policy: redact | block | annotate)
redaction applies the secret findings (typed or reversible placeholders).
"""
