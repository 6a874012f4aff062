"""Analysis over codesieve's telemetry and models.

experiments.ab     A/B significance reports: telemetry -> per-unit sufficient statistics -> tests -> report
"""
