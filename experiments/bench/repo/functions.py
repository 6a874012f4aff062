"""Functions and methods of a Python file and their body spans (ast); prefix/body/suffix; splicing.

A task's *body* is what the model writes: the function's statements after its signature and
docstring, whole lines, up to the function's last line. The prefix is the file up to there (the
docstring stays: it is the function's spec, as in HumanEval); the suffix is the rest of the file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["FunctionSpan", "find_functions", "reindent", "split_at", "stub_body"]


@dataclass(frozen=True)
class FunctionSpan:
    """Where one function's body is: 1-based inclusive lines, and the body's indentation."""

    qualname: str
    def_line: int  # the `def` line (decorators excluded)
    body_start: int  # first body line after the docstring
    end_line: int
    indent: str

    @property
    def body_lines(self) -> int:
        return self.end_line - self.body_start + 1


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_stub(body: list[ast.stmt]) -> bool:
    """`pass`, `...` or `raise NotImplementedError...`: an abstract method, nothing to complete."""
    if len(body) != 1:
        return False
    node = body[0]
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return True
    if isinstance(node, ast.Raise) and node.exc is not None:
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(target, ast.Name) and target.id == "NotImplementedError"
    return False


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, lines: list[str]) -> FunctionSpan | None:
    body = node.body[1:] if _is_docstring(node.body[0]) else node.body
    if not body or _is_stub(body) or node.end_lineno is None:
        return None
    start = body[0].lineno
    if start == node.lineno or (body is not node.body and node.body[0].end_lineno == start):
        return None  # `def f(): return 1`, or `"""doc"""; x = 1`: no body lines of its own
    first = lines[start - 1]
    indent = first[: len(first) - len(first.lstrip())]
    if not indent:
        return None
    return FunctionSpan(qualname, node.lineno, start, node.end_lineno, indent)


def find_functions(source: str) -> list[FunctionSpan]:
    """Every function and method (nested ones included, lambdas not) with a completable body.

    Raises:
        SyntaxError: the file does not parse.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    out: list[FunctionSpan] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualname = f"{prefix}{child.name}"
                span = _span(child, qualname, lines)
                if span is not None:
                    out.append(span)
                visit(child, f"{qualname}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def split_at(source: str, span: FunctionSpan) -> tuple[str, str, str]:
    """(prefix, body, suffix) of `source` around `span`'s body; prefix + body + suffix == source."""
    lines = source.splitlines(keepends=True)
    prefix = "".join(lines[: span.body_start - 1])
    body = "".join(lines[span.body_start - 1 : span.end_line])
    suffix = "".join(lines[span.end_line :])
    return prefix, body, suffix


def stub_body(indent: str) -> str:
    """The body with the implementation removed."""
    return f"{indent}raise NotImplementedError\n"


def reindent(body: str, old: str, new: str) -> str:
    """Move `body` from indentation `old` to `new` (lines not starting with `old` keep theirs)."""
    out = []
    for line in body.splitlines(keepends=True):
        out.append(new + line[len(old) :] if line.startswith(old) else line)
    return "".join(out)
