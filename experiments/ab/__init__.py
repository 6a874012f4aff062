"""A/B significance reports over the gateway's telemetry (follows GrowthBook's gbstats).

    telemetry (PostgreSQL via queries.py | Parquet export via parquet_export.py)
        -> per-arm sufficient statistics of per-unit sums (metrics.py names them)   [ArmMoments]
        -> stats.py (SampleMeanStat / RatioStat / RegressionAdjustedStat)
        -> significance.py (SRM, delta-method Welch, CUPED, confidence sequences, Holm/BH, guardrails)
        -> analysis.py (per-metric results, verdict)                               [ReportResult]
        -> report.py (Markdown / HTML with plots / JSON)
    plan.py: sample size and MDE from historical per-unit variance (`codesieve ab plan`).

Inference is always at the randomisation unit, never per event.
"""
