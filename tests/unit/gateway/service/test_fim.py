"""gateway.service.fim: FIM prompt rendering per model family, template choice, stops per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.service.fim import FIM_TEMPLATES, language_stops, resolve_fim_template


def test_psm_rendering_per_family_and_plain_prefix_without_a_suffix() -> None:
    star, llama = FIM_TEMPLATES["starcoder"], FIM_TEMPLATES["codellama"]
    assert star.render("def f(", ")\n") == "<fim_prefix>def f(<fim_suffix>)\n<fim_middle>"
    assert llama.render("a", "b") == "<PRE> a <SUF>b <MID>"  # codellama's spaced infilling format
    assert star.render("def f(", None) == star.render("def f(", "") == "def f("


def test_template_choice_explicit_then_model_folder_then_name_then_starcoder(tmp_path: Path) -> None:
    (tmp_path / "codesieve.json").write_text(json.dumps({"fim_template": "deepseek-coder"}))
    pick = resolve_fim_template
    assert pick(explicit="codellama", model_name="qwen", model_dir=tmp_path).name == "codellama"
    assert pick(explicit=None, model_name="qwen", model_dir=tmp_path).name == "deepseek-coder"
    assert pick(explicit=None, model_name="Qwen2.5-Coder-7B", model_dir=None).name == "qwen2.5-coder"
    assert pick(explicit=None, model_name="my-model", model_dir=tmp_path / "none").name == "starcoder"
    with pytest.raises(ValueError, match="unknown FIM template 'gpt'"):
        pick(explicit="gpt", model_name="x", model_dir=None)


def test_language_stops_accept_editor_ids_and_aliases() -> None:
    assert language_stops(None) == language_stops("") == []
    assert language_stops("py") == language_stops("Python")
    assert language_stops("python")[:3] == ["\n\n\n", "\ndef", "\nclass"]
    assert language_stops("typescriptreact") == language_stops("typescript")
    assert language_stops("cobol") == ["\n\n\n"]  # unknown language: only the blank-lines stop
