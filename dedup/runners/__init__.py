"""Dedup runners: they wire the pure stage functions of dedup.steps to an engine.

local.py           one process (or a multiprocessing pool), in-memory grouping and union-find
spark.py           PySpark: mapPartitions over input files, groupByKey buckets, large/small-star CC
artifacts.py       what both read and write: output layout, stage markers, per-file tasks
corpus_filters.py  one-pass jobs: decontamination against benchmarks, secret scrubbing
"""
