"""Fine-tuning data: CodeRecords -> privacy units -> one token window per unit per draw; no model code.

The dataset has exactly one item per privacy unit (a record, or all records of one repository), so
Poisson sampling of items is Poisson sampling of units and the accountant's q is per unit. An item is
a random `seq_len`-token window of the unit's token stream (its records, each followed by
end-of-text), drawn afresh each time: how much of a unit is seen never changes who is protected.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from codesieve.core.records import CodeRecord
from codesieve.core.storage import iter_code_records, list_input_files
from training.config import PrivacyUnit

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True)
class PrivacyUnitTexts:
    """The texts of one privacy unit, with its key (record id or repository name)."""

    key: str
    texts: tuple[str, ...]


def load_records(paths: Sequence[str | Path]) -> list[CodeRecord]:
    """All CodeRecords of the given files/folders, in a stable order."""
    records: list[CodeRecord] = []
    for ordinal, path in enumerate(list_input_files(list(paths))):
        records.extend(iter_code_records(path, ordinal))
    if not records:
        raise ValueError(f"no records in {', '.join(map(str, paths))}")
    return records


def group_units(records: Sequence[CodeRecord], unit: PrivacyUnit) -> list[PrivacyUnitTexts]:
    """Group records into privacy units, ordered by key.

    `record`: every record is its own unit. `repo`: all records with the same `repo` form one unit;
    a record without a repo is a unit of its own (it shares no repository with anything).
    """
    groups: dict[str, list[str]] = {}
    for rec in records:
        if unit == "repo" and rec.repo:
            key = f"repo:{rec.repo}"
        else:
            key = f"record:{rec.doc_id}:{rec.doc_index}"
        groups.setdefault(key, []).append(rec.content)
    return [PrivacyUnitTexts(key=k, texts=tuple(v)) for k, v in sorted(groups.items())]


def compute_data_fingerprint(units: Sequence[PrivacyUnitTexts]) -> str:
    """sha256 over unit keys and contents: a resumed run must train on exactly the same units."""
    h = hashlib.sha256()
    for u in units:
        h.update(u.key.encode())
        for t in u.texts:
            h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


class UnitWindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Item i = (inputs, targets), each (seq_len-1,): a random window of unit i's token stream.

    Short units are right-padded with pad_id; padded targets are IGNORE_INDEX.
    """

    def __init__(self, streams: Sequence[np.ndarray], *, seq_len: int, pad_id: int, seed: int) -> None:
        self.streams = list(streams)
        self.seq_len = seq_len
        self.pad_id = pad_id
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.streams)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.streams[index]
        if len(ids) > self.seq_len:
            start = int(self.rng.integers(0, len(ids) - self.seq_len + 1))
            ids = ids[start : start + self.seq_len]
        row = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        labels = np.full(self.seq_len, IGNORE_INDEX, dtype=np.int64)
        row[: len(ids)] = ids
        labels[: len(ids)] = ids
        return torch.from_numpy(row[:-1]), torch.from_numpy(labels[1:])


def build_dataset(units: Sequence[PrivacyUnitTexts], tokenizer, *, seq_len: int, seed: int) -> UnitWindowDataset:  # noqa: ANN001
    """Tokenize every unit (records joined by end-of-text) into a UnitWindowDataset."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    streams = []
    for unit in units:
        ids: list[int] = []
        for enc in tokenizer(list(unit.texts), add_special_tokens=False)["input_ids"]:
            ids.extend(enc)
            ids.append(eos)
        streams.append(np.asarray(ids, dtype=np.int64))
    logger.info("data: %d privacy units, %d tokens", len(streams), sum(len(s) for s in streams))
    return UnitWindowDataset(streams, seq_len=seq_len, pad_id=pad, seed=seed)
