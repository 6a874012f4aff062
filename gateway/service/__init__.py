"""Request handling without HTTP types: prompt rendering, the upstream call, filters, telemetry."""
