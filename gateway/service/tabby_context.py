"""Tabby's editor context rendered into the prompt, the way Tabby's own server renders it.

Tabby's server (crates/tabby/src/services/completion/completion_prompt.rs) takes declarations
first, then snippets from changed files, then snippets from recently opened files, while their
bodies fit a budget of 768 characters (each list stops at its first item that does not fit), and
puts them before the prefix as line comments of the file's language:

    # Path: b.py
    # def helper(x): ...
    #
    # Path: c.py
    # ...
    <prefix>

A language without a line comment gets no context (as in Tabby). `clipboard` is not used (Tabby's
server does not put it in completion prompts either); `filepath` and `git_url` only select
repository code search there, which the gateway does not have. Here the budget is also bounded by
the model's context: prefix and suffix are kept whole, and the context gets what is left of
`max_model_len - max_tokens` tokens (estimated at 2 characters per token, a low figure for code,
so the estimate errs towards a shorter prompt).
"""

from __future__ import annotations

from gateway.protocol.completions import ContextSnippet

# Line comments per editor language id (Tabby's languages.toml, plus common aliases).
_LINE_COMMENT = {
    **dict.fromkeys(("python", "py", "ruby", "shellscript", "bash", "sh", "perl", "r", "elixir", "julia"), "#"),
    **dict.fromkeys(("yaml", "toml", "dockerfile", "makefile", "powershell", "nix"), "#"),
    **dict.fromkeys(("javascript", "js", "typescript", "ts", "javascriptreact", "typescriptreact"), "//"),
    **dict.fromkeys(("go", "golang", "rust", "java", "kotlin", "scala", "swift", "dart", "csharp", "php"), "//"),
    **dict.fromkeys(("c", "cpp", "c++", "objective-c", "objective-cpp", "solidity", "zig", "groovy"), "//"),
    **dict.fromkeys(("lua", "sql", "haskell", "elm", "ada"), "--"),
    **dict.fromkeys(("erlang", "latex", "tex", "prolog"), "%"),
    "clojure": ";;",
    "lisp": ";;",
    "vim": '"',
}
CHARS_PER_TOKEN_ESTIMATE = 2


def line_comment(language: str | None) -> str | None:
    """The line-comment marker of an editor language id, or None when the language has none we know."""
    return _LINE_COMMENT.get((language or "").lower())


def context_budget(setting_chars: int, *, prompt_chars: int, max_model_len: int | None, max_tokens: int) -> int:
    """Characters of context that fit: the setting, less what the model's context leaves after the prompt.

    Args:
        setting_chars: the configured budget (Tabby's server uses 768).
        prompt_chars: prefix + suffix characters, which are kept whole.
        max_model_len: the upstream's context length in tokens, when known.
        max_tokens: tokens reserved for the completion.
    """
    if max_model_len is None:
        return setting_chars
    room = (max_model_len - max_tokens) * CHARS_PER_TOKEN_ESTIMATE - prompt_chars
    return max(0, min(setting_chars, room))


def select_snippets(snippets: tuple[ContextSnippet, ...], budget: int) -> list[ContextSnippet]:
    """Tabby's selection: in priority order, each kind's list until its first body over the budget."""
    chosen: list[ContextSnippet] = []
    used = 0
    stopped: set[str] = set()
    for s in snippets:
        if s.kind in stopped:
            continue
        if used + len(s.body) > budget:
            stopped.add(s.kind)
            continue
        used += len(s.body)
        chosen.append(s)
    return chosen


def render_context(language: str | None, snippets: list[ContextSnippet]) -> str:
    """The comment block that goes before the prefix (ends with a newline), or "" when there is none."""
    comment = line_comment(language)
    if comment is None or not snippets:
        return ""
    lines: list[str] = []
    for i, s in enumerate(snippets):
        if i:
            lines.append("")
        lines.append(f"Path: {s.filepath}")
        lines += s.body.splitlines()
    return "".join(f"{comment} {line}\n" if line else f"{comment}\n" for line in lines)
