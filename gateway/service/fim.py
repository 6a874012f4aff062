"""Fill-in-the-middle prompt templates per model family, and stop sequences per language.

vLLM's OpenAI server answers 400 to `suffix`, so the gateway renders the FIM prompt itself and never
forwards `suffix`. Template strings come from each model family's tokenizer special tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FimTemplate:
    name: str
    prefix_tok: str
    suffix_tok: str
    middle_tok: str
    # codellama puts a space after <PRE> and before <SUF>/<MID> (its infilling format).
    spaced: bool = False
    stop_tokens: tuple[str, ...] = ()

    def render(self, prefix: str, suffix: str | None) -> str:
        """PSM order: prefix, suffix, then the middle marker the model continues from."""
        if suffix is None or suffix == "":
            # No suffix: plain left-to-right completion keeps the model in its pretraining regime.
            return prefix
        if self.spaced:
            return f"{self.prefix_tok} {prefix} {self.suffix_tok}{suffix} {self.middle_tok}"
        return f"{self.prefix_tok}{prefix}{self.suffix_tok}{suffix}{self.middle_tok}"


FIM_TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        # StarCoder / StarCoder2 / SantaCoder; also the local tiny model (same special tokens).
        FimTemplate(
            "starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", stop_tokens=("<|endoftext|>", "<file_sep>")
        ),
        FimTemplate(
            "qwen2.5-coder",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            stop_tokens=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>"),
        ),
        FimTemplate("codellama", "<PRE>", "<SUF>", "<MID>", spaced=True, stop_tokens=("<EOT>",)),
        FimTemplate(
            "deepseek-coder",
            "<｜fim▁begin｜>",
            "<｜fim▁hole｜>",
            "<｜fim▁end｜>",
            stop_tokens=("<｜end▁of▁sentence｜>",),
        ),
    )
}

# Substrings of a model name -> template, for upstream models without a codesieve.json.
_NAME_HINTS = (
    ("qwen", "qwen2.5-coder"),
    ("codellama", "codellama"),
    ("code-llama", "codellama"),
    ("deepseek", "deepseek-coder"),
    ("starcoder", "starcoder"),
    ("santacoder", "starcoder"),
)


def resolve_fim_template(*, explicit: str | None, model_name: str, model_dir: Path | None) -> FimTemplate:
    """Pick the template: explicit setting > the model folder's codesieve.json > name hints > starcoder."""
    name = explicit
    if name is None and model_dir is not None:
        meta = model_dir / "codesieve.json"
        if meta.is_file():
            name = json.loads(meta.read_text()).get("fim_template")
    if name is None:
        lowered = model_name.lower()
        name = next((tpl for hint, tpl in _NAME_HINTS if hint in lowered), "starcoder")
    if name not in FIM_TEMPLATES:
        raise ValueError(f"unknown FIM template {name!r}; known: {', '.join(sorted(FIM_TEMPLATES))}")
    return FIM_TEMPLATES[name]


# Top-level keywords per language: a completion stops before starting a new top-level construct,
# as Tabby does (its languages.toml); "\n\n\n" ends the block everywhere.
_TOP_LEVEL = {
    "python": ("def", "class", "from", "import", "if __name__", "@"),
    "javascript": ("function", "export", "import", "class", "const", "let", "var"),
    "typescript": ("function", "export", "import", "class", "interface", "type", "const", "let"),
    "go": ("func", "type", "var", "const", "package", "import"),
    "rust": ("fn", "pub", "impl", "struct", "enum", "mod", "use", "trait"),
    "java": ("public", "private", "protected", "class", "import", "package"),
    "c": ("#include", "#define", "int", "void", "static", "struct", "typedef"),
    "cpp": ("#include", "#define", "int", "void", "static", "class", "struct", "namespace", "template"),
    "ruby": ("def", "class", "module", "require"),
    "php": ("function", "class", "namespace", "use"),
    "shellscript": ("function", "#!"),
}
_ALIASES = {
    "js": "javascript",
    "ts": "typescript",
    "typescriptreact": "typescript",
    "javascriptreact": "javascript",
    "c++": "cpp",
    "golang": "go",
    "py": "python",
    "bash": "shellscript",
    "sh": "shellscript",
}


def language_stops(language: str | None) -> list[str]:
    """Stop sequences for a language id (editor ids and common aliases accepted)."""
    if not language:
        return []
    key = _ALIASES.get(language.lower(), language.lower())
    keywords = _TOP_LEVEL.get(key, ())
    return ["\n\n\n", *(f"\n{kw}" for kw in keywords)]
