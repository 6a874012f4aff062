"""`dedup decontaminate` and `eval contamination` agree: what the first keeps, the second calls clean.

Both CLIs run end to end on one crafted corpus: verbatim and edited copies of HumanEval problems,
a copy edited every 10 lexemes (the case the two old detectors disagreed on: 5-lexeme shingle
containment >= 0.5 but no shared 25-lexeme run), a short fragment and unrelated code.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.benchmarks import load_benchmark
from codesieve.core.shingling import code_tokens, shingles
from experiments.bench.contamination import check_contamination

runner = CliRunner()


def _text(task: int) -> str:
    problem = load_benchmark("humaneval").problems[task]
    return problem.prompt + (problem.canonical_solution or "")


def _every_tenth_lexeme_marked(text: str) -> str:
    # a new identifier after every 10th lexeme: no 25-lexeme run of the original survives
    return " ".join(f"{t} zz_{i}" if i % 10 == 9 else t for i, t in enumerate(code_tokens(text)))


def _containment(problem_text: str, doc: str) -> float:
    wanted = set(shingles(code_tokens(problem_text), 5))
    return len(wanted & set(shingles(code_tokens(doc), 5))) / len(wanted)


def _corpus() -> dict[str, str]:
    tokens = code_tokens(_text(1))
    edited = " ".join([*tokens[: len(tokens) // 2], "zz_edit", *tokens[len(tokens) // 2 :]])  # one lexeme added
    return {
        "verbatim": "import os\n# vendored\n" + _text(0).replace("    ", "\t") + "\nprint(1)\n",
        "edited": edited,
        "two-lines": " ".join(code_tokens(_text(4))[-30:]),
        "sparse-edits": _every_tenth_lexeme_marked(_text(3)),
        "fragment": " ".join(code_tokens(_text(5))[:15]),
        "unrelated": Path(json.__file__).read_text(),
    }


def _write(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "content": v}) + "\n" for k, v in docs.items()))
    return path


def _eval(corpus: Path, output: Path) -> dict:
    args = ["eval", "contamination", "--corpus", str(corpus), "--benchmark", "humaneval", "--output", str(output)]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    return json.loads(output.read_text())


def test_a_decontaminated_corpus_is_clean_for_eval_contamination(tmp_path: Path) -> None:
    docs = _corpus()
    # the crafted disagreement case: near under the old eval test, kept by decontaminate
    assert _containment(_text(3), docs["sparse-edits"]) >= 0.5
    corpus = _write(tmp_path / "corpus.jsonl", docs)
    out = tmp_path / "decon"
    args = ["dedup", "decontaminate", "-i", str(corpus), "-o", str(out), "--benchmarks", "humaneval", "--no-progress"]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    clean_file = out / "clean" / "part-00000-corpus.jsonl"
    kept = [json.loads(line)["id"] for line in clean_file.read_text().splitlines()]
    assert sorted(kept) == ["fragment", "sparse-edits", "unrelated"]

    before = {f["task_id"]: f for f in _eval(corpus, tmp_path / "before.json")["findings"]}
    assert before["HumanEval/0"]["status"] == "exact" and before["HumanEval/0"]["doc_id"] == "verbatim"
    assert before["HumanEval/1"]["status"] == "near" and before["HumanEval/1"]["doc_id"] == "edited"
    assert before["HumanEval/4"]["status"] == "near" and before["HumanEval/4"]["doc_id"] == "two-lines"
    assert before["HumanEval/3"]["status"] == "clean" and before["HumanEval/5"]["status"] == "clean"

    after = _eval(clean_file, tmp_path / "after.json")
    assert after["summary"]["contaminated"] == []
    assert after["summary"]["clean"] == 164


def test_each_document_is_removed_exactly_when_it_makes_a_problem_contaminated(tmp_path: Path) -> None:
    problems = load_benchmark("humaneval").problems
    docs = _corpus()
    out = tmp_path / "decon"
    corpus = _write(tmp_path / "corpus.jsonl", docs)
    args = ["dedup", "decontaminate", "-i", str(corpus), "-o", str(out), "--benchmarks", "humaneval", "--no-progress"]
    assert runner.invoke(build_app(), args).exit_code == 0
    removed = {r["doc_id"] for r in json.loads((out / "report.json").read_text())["removed"]}
    for doc_id, text in docs.items():
        flagged = any(f.status != "clean" for f in check_contamination(problems, [(doc_id, text)]))
        assert flagged == (doc_id in removed), doc_id
