"""Cross-file context for a task: the signatures of what its file imports from the same repository.

An IDE sends the model a few declarations from other files; we do the same, bounded: for each
import that resolves to a file of the repository, the `def`/`class` lines of the imported names (all
public top-level names for `import module`), in import order, cut at `max_chars`.
"""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["cross_file_context", "render_context"]


def _module_file(repo: Path, module: str) -> Path | None:
    parts = module.split(".")
    for root in (Path(), Path("src")):
        for rel in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if (repo / rel).is_file():
                return rel
    return None


def _package_of(rel: Path) -> list[str]:
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    return parts[:-1] if rel.name != "__init__.py" else parts[:-1]


def _imports(tree: ast.Module, rel: Path) -> list[tuple[str, set[str] | None]]:
    """(module, names or None for all) for each import, relative ones resolved against `rel`."""
    out: list[tuple[str, set[str] | None]] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _package_of(rel)
            if node.level:
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = {a.name for a in node.names}
            out.append((module, None if "*" in names else names))
            out += [(f"{module}.{n}", None) for n in names if n != "*"]  # `from pkg import submodule`
    return out


def _signature(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, indent: str) -> str:
    end = node.body[0].lineno - 1 if node.body[0].lineno > node.lineno else node.lineno
    head = " ".join(line.strip() for line in lines[node.lineno - 1 : end])
    return f"{indent}{head} ..." if not isinstance(node, ast.ClassDef) else f"{indent}{head}"


def _signatures(source: str, names: set[str] | None) -> list[str]:
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if (names is None and node.name.startswith("_")) or (names is not None and node.name not in names):
            continue
        out.append(_signature(lines, node, ""))
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    not child.name.startswith("_") or child.name == "__init__"
                ):
                    out.append(_signature(lines, child, "    "))
    return out


def cross_file_context(repo: Path, rel: Path, source: str, max_chars: int = 2000) -> str:
    """Signatures imported by `rel` from other files of `repo`, as text of at most `max_chars`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    chunks: list[str] = []
    seen: set[Path] = {rel}
    used = 0
    for module, names in _imports(tree, rel):
        target = _module_file(repo, module) if module else None
        if target is None or target in seen:
            continue
        seen.add(target)
        try:
            sigs = _signatures((repo / target).read_text(encoding="utf-8"), names)
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        if not sigs:
            continue
        chunk = "\n".join([f"# {target}", *sigs])
        if used + len(chunk) + 1 > max_chars:
            break
        chunks.append(chunk)
        used += len(chunk) + 1
    return "\n".join(chunks)


def render_context(context: str) -> str:
    """The context as a comment block to put before the prefix (empty when there is none)."""
    if not context:
        return ""
    body = "\n".join(f"# {line}" if line else "#" for line in context.splitlines())
    return f"# Signatures from other files of this repository:\n{body}\n\n"
