"""training.data: privacy units, one dataset item per unit, windows and padding, fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.data import IGNORE_INDEX, UnitWindowDataset, compute_data_fingerprint, group_units, load_records


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "c.jsonl"
    rows = [
        {"content": "a = 1\n", "repo": "o/r1", "path": "a.py"},
        {"content": "b = 2\n", "repo": "o/r1", "path": "b.py"},
        {"content": "c = 3\n", "repo": "o/r2", "path": "c.py"},
        {"content": "d = 4\n", "path": "d.py"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_units_by_record_and_by_repo(tmp_path: Path) -> None:
    records = load_records([_write(tmp_path)])
    assert len(group_units(records, "record")) == 4
    by_repo = group_units(records, "repo")
    assert len(by_repo) == 3  # o/r1 (two files), o/r2, and the repo-less record on its own
    r1 = next(u for u in by_repo if u.key == "repo:o/r1")
    assert r1.texts == ("a = 1\n", "b = 2\n")


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    units = group_units(load_records([_write(tmp_path)]), "record")
    fp = compute_data_fingerprint(units)
    assert fp == compute_data_fingerprint(list(units))
    changed = [*units[:-1], type(units[-1])(key=units[-1].key, texts=("d = 5\n",))]
    assert compute_data_fingerprint(changed) != fp


def test_window_dataset_pads_short_units_and_crops_long_ones() -> None:
    ds = UnitWindowDataset([np.arange(3), np.arange(100)], seq_len=8, pad_id=99, seed=0)
    assert len(ds) == 2
    inputs, targets = ds[0]
    assert inputs.tolist() == [0, 1, 2, 99, 99, 99, 99]
    assert targets.tolist() == [1, 2] + [IGNORE_INDEX] * 5
    inputs, targets = ds[1]
    assert len(inputs) == 7 and (targets[:-1] == inputs[1:]).all()
    assert int(targets[-1]) == int(inputs[-1]) + 1  # a contiguous window of the unit
