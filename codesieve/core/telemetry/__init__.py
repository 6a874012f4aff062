"""The telemetry contract: what the gateway writes and the analysts read.

The gateway's request path writes these tables (gateway/telemetry/writer.py, repository.py) and its
console and `codesieve telemetry export` read them; `codesieve ab report` reads them too, over SQL or
from the exported Parquet file. Both sides import the definitions from here, so neither package
imports the other:
  tables.py          the SQLAlchemy schema (migrations stay in gateway/migrations/)
  export_schema.py   the Parquet export's columns (`codesieve telemetry export` -> `ab report --events`)
  persistence.py     the persistence checkpoints a plugin reports, and which one counts retained characters
"""
