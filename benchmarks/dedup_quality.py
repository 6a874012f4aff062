"""Dedup quality on real code with planted near-duplicates, against exact Jaccard ground truth.

Run:  .venv/bin/python benchmarks/dedup_quality.py [--files 5000] [--planted 600]

Corpus: `--files` real .py files of this environment's site-packages (seeded sample) plus
`--planted` edited copies of some of them. Each copy gets k = round(f x lexemes) edits, f drawn
from EDIT_FRACTIONS, each edit renaming one identifier occurrence (70%) or inserting a short
line (30%): one edit changes up to 5 of the 5-lexeme shingles, so f spans Jaccard ~0.9 to ~0.5.

Ground truth: every pair of documents with Jaccard >= 0.7 on their 5-lexeme shingle sets
(shingles as 64-bit XXH3 hashes), found by prefix filtering (Bayardo et al., WWW 2007: a pair with
J >= t shares a token among the first |x| - ceil(t|x|) + 1 tokens of each set in one global
order, so the candidate set is lossless) and checked exactly; i.e. exact all-pairs Jaccard.

Metrics (printed per configuration, ratios against the targets of issue 6):
- document recall: of the documents that have a partner with J >= 0.7, the share that the run
  puts in one cluster with at least one such partner (target >= 0.95);
- over-removal: of the removed documents, the share with no exact duplicate and no J >= 0.7
  partner in their cluster (target <= 2% with --verify); also shown against the corpus size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import xxhash

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_spec = importlib.util.spec_from_file_location("dedup_corpus", _HERE / "dedup_corpus.py")
assert _spec is not None and _spec.loader is not None
dedup_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dedup_corpus)

from codesieve.core.shingling import code_lexemes, code_tokens, shingles  # noqa: E402
from dedup.config import MinhashConfig  # noqa: E402
from dedup.runners.local import run_local  # noqa: E402

THRESHOLD = 0.7
EDIT_FRACTIONS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.06)


def plant_copy(text: str, fraction: float, rng: random.Random) -> tuple[str, int]:
    """An edited copy of `text` with round(fraction x lexemes) edits; returns (copy, edits)."""
    lexemes = code_lexemes(text)
    idents = [lx for lx in lexemes if lx.text[0].isalpha() or lx.text[0] == "_"]
    k = max(1, round(fraction * len(lexemes)))
    edits = sorted(rng.sample(idents, min(k, len(idents))), key=lambda lx: lx.start, reverse=True)
    out = text
    for lx in edits:  # right to left, so earlier spans stay valid
        if rng.random() < 0.7:
            out = out[: lx.start] + f"v{rng.randrange(10**6)}" + out[lx.end :]
        else:
            line_start = out.rfind("\n", 0, lx.start) + 1
            indent = out[line_start : lx.start][
                : len(out[line_start : lx.start]) - len(out[line_start : lx.start].lstrip())
            ]
            out = out[:line_start] + f"{indent}t{rng.randrange(10**6)} = {rng.randrange(99)}\n" + out[line_start:]
    return out, len(edits)


def build_corpus(n_files: int, n_planted: int, seed: int) -> tuple[list[dict], dict[int, tuple[int, float]]]:
    rng = random.Random(seed)
    files = dedup_corpus.real_code_files(n_files, seed=seed)
    records = [dedup_corpus.to_record(p, id=str(i)) for i, p in enumerate(files)]
    eligible = [i for i, r in enumerate(records) if len(code_tokens(r["content"])) >= 200]
    planted: dict[int, tuple[int, float]] = {}
    for src in rng.sample(eligible, n_planted):
        fraction = rng.choice(EDIT_FRACTIONS)
        text, _ = plant_copy(records[src]["content"], fraction, rng)
        idx = len(records)
        records.append(
            {
                **records[src],
                "id": str(idx),
                "path": records[src]["path"] + f".copy{idx}",
                "licence": "GPL-3.0",
                "content": text,
            }
        )
        planted[idx] = (src, fraction)
    return records, planted


def shingle_sets(records: list[dict]) -> list[np.ndarray]:
    sets = []
    for r in records:
        hashes = {
            xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass")) for s in shingles(code_tokens(r["content"]), 5)
        }
        sets.append(np.array(sorted(hashes), dtype=np.uint64))
    return sets


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter) if (a.size or b.size) else 0.0


def all_pairs_ground_truth(sets: list[np.ndarray], t: float) -> dict[tuple[int, int], float]:
    """Every pair with Jaccard >= t (prefix filtering + exact check; lossless)."""
    freq: dict[int, int] = defaultdict(int)
    for s in sets:
        for h in s.tolist():
            freq[h] += 1
    index: dict[int, list[int]] = defaultdict(list)
    candidates: set[tuple[int, int]] = set()
    for doc, s in enumerate(sets):
        if s.size == 0:
            continue
        ordered = sorted(s.tolist(), key=lambda h: (freq[h], h))  # rarest first
        prefix = ordered[: s.size - math.ceil(t * s.size) + 1]
        for h in prefix:
            for other in index[h]:
                small, large = sorted((sets[other].size, s.size))
                if small >= t * large:  # size filter: J <= small / large
                    candidates.add((other, doc))
            index[h].append(doc)
    truth = {}
    for a, b in candidates:
        j = jaccard(sets[a], sets[b])
        if j >= t:
            truth[(a, b)] = j
    return truth


def evaluate(records: list[dict], truth: dict, clusters: list[dict]) -> dict:
    cluster_of: dict[int, int] = {}
    for c in clusters:
        for m in c["member_ids"]:
            cluster_of[int(m)] = c["cluster_id"]
    partners: dict[int, set[int]] = defaultdict(set)
    for a, b in truth:
        partners[a].add(b)
        partners[b].add(a)
    positives = list(partners)
    found = [d for d in positives if d in cluster_of and any(cluster_of.get(p) == cluster_of[d] for p in partners[d])]
    pair_hits = sum(1 for a, b in truth if a in cluster_of and cluster_of.get(b) == cluster_of[a])
    exact = {i: " ".join(r["content"].split()) for i, r in enumerate(records)}
    removed = [(int(m), c) for c in clusters for m in c["member_ids"] if m != c["kept_id"]]
    wrong = 0
    for doc, c in removed:
        members = [int(m) for m in c["member_ids"] if int(m) != doc]
        if not any(m in partners.get(doc, ()) or exact[m] == exact[doc] for m in members):
            wrong += 1
    return {
        "positives": len(positives),
        "doc_recall": len(found) / max(1, len(positives)),
        "pair_recall": pair_hits / max(1, len(truth)),
        "removed": len(removed),
        "over_removed": wrong,
        "over_removal": wrong / max(1, len(removed)),
        "over_removal_of_corpus": wrong / len(records),
        "found_docs": set(found),
        "partners": dict(partners),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--planted", type=int, default=600)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    records, planted = build_corpus(args.files, args.planted, args.seed)
    sets = shingle_sets(records)
    truth = all_pairs_ground_truth(sets, THRESHOLD)
    print(
        f"corpus: {args.files} real files + {len(planted)} planted copies = {len(records)} docs; "
        f"{len(truth)} pairs with J >= {THRESHOLD} (ground truth in {time.perf_counter() - t0:.0f} s)"
    )
    planted_j = {idx: jaccard(sets[idx], sets[src]) for idx, (src, _) in planted.items()}
    print("planted copies, Jaccard to their source by edit fraction:")
    for f in EDIT_FRACTIONS:
        js = [planted_j[i] for i, (_, fr) in planted.items() if fr == f]
        print(
            f"  edits {f:>5.1%} of lexemes: n={len(js):>3}  J mean {np.mean(js):.3f}  "
            f"min {np.min(js):.3f}  max {np.max(js):.3f}"
        )

    configs = [
        ("25x10 (default)", MinhashConfig()),
        ("25x10 --verify", MinhashConfig(verify=True)),
        ("36x7 --verify (CLI default with --verify)", MinhashConfig(bands=36, rows=7, verify=True)),
        ("50x5 --verify", MinhashConfig(bands=50, rows=5, verify=True)),
    ]
    print(
        f"\n{'config':<42} {'doc recall':>10} {'pair recall':>11} {'removed':>8} "
        f"{'over-removed':>12} {'over-removal':>12} {'of corpus':>9} {'run s':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="dedup-quality-") as tmp:
        corpus = dedup_corpus.write_jsonl(records, Path(tmp) / "corpus.jsonl")
        for name, cfg in configs:
            t1 = time.perf_counter()
            result = run_local(cfg, [corpus], Path(tmp) / "out", progress=False)
            run_s = time.perf_counter() - t1
            clusters = [json.loads(x) for x in result.layout.clusters_file.read_text().splitlines()]
            m = evaluate(records, truth, clusters)
            print(
                f"{name:<42} {m['doc_recall']:>10.4f} {m['pair_recall']:>11.4f} {m['removed']:>8} "
                f"{m['over_removed']:>12} {m['over_removal']:>11.2%} "
                f"{m['over_removal_of_corpus']:>9.2%} {run_s:>6.0f}"
            )
            by_edit = []
            for f in EDIT_FRACTIONS:
                pos = [i for i, (_, fr) in planted.items() if fr == f and i in m["partners"]]
                hit = sum(1 for i in pos if i in m["found_docs"])
                by_edit.append(f"{f:.1%}: {hit}/{len(pos)}")
            print(f"{'':<42} planted copies with J >= 0.7 found, by edit size: {', '.join(by_edit)}")
    print(f"\ntargets (issue 6): doc recall >= 0.95 at J >= {THRESHOLD}; over-removal <= 2% with --verify")


if __name__ == "__main__":
    main()
