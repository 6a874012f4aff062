"""The shared core: pure detection code that gateway, dedup, training and experiments all import.

It owns the concepts more than one package needs, each in one place: the code lexer and shingling
(`shingling`, with its compiled kernels and the one shingle separator), MinHash and LSH
parameters (`minhash`, `lsh_params`), winnowing fingerprints (`winnowing`), secret scanning and
redaction (`secret_scan`, `provider_detectors`, `extra_detectors`, `config_secrets`, `redaction`),
licence text detection (`licence_text`), benchmark loading (`benchmarks`), the one
contamination definition (`contamination`), and the telemetry contract the gateway writes and the
A/B analysis reads (`telemetry`: tables, export schema, persistence checkpoints). It imports none of
gateway, dedup, experiments, training, codesieve.cli or codesieve.app
(tests/unit/codesieve/core/test_core_imports.py checks it).
"""
