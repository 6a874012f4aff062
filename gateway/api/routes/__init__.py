"""One module per resource: completions, models, health/metrics, Tabby compatibility."""
