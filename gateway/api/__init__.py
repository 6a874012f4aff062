"""HTTP layer: routes parse, call a service, and map its result; no SQL and no filtering here."""
