"""The repository's test command, parsed: only pytest runs (`pytest ...`, `python -m pytest ...`).

We run pytest ourselves (in the sandbox, under coverage, with node ids), so the command is split
into its options, which every run keeps, and its positional test paths, which only whole-suite runs
keep (a node-id run replaces them). `-x`/`--maxfail` are dropped: mining needs every test's outcome.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = ["TestCommand", "parse_test_cmd"]

_PYTHONS = ("python", "python3", "python3.11", "python3.12", "python3.13")
# pytest options that take their value as the next argument
_WITH_VALUE = frozenset(
    {"-k", "-m", "-p", "-c", "-o", "-W", "--rootdir", "--confcutdir", "--ignore", "--ignore-glob", "--deselect",
     "--tb", "--import-mode", "--durations", "--basetemp", "--override-ini", "--pythonwarnings", "-r"}
)  # fmt: skip
_DROPPED = ("-x", "--exitfirst", "--maxfail", "--lf", "--last-failed", "--ff", "--failed-first", "--sw", "--stepwise")


@dataclass(frozen=True)
class TestCommand:
    options: tuple[str, ...]
    paths: tuple[str, ...]

    def suite_args(self) -> list[str]:
        return [*self.options, *self.paths]

    def node_args(self, node_ids: list[str] | tuple[str, ...]) -> list[str]:
        return [*self.options, *node_ids]


def _program(argv: list[str]) -> list[str]:
    """argv after the pytest program itself; ValueError when the command is not pytest."""
    if argv and argv[0] in ("pytest", "py.test"):
        return argv[1:]
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in _PYTHONS and argv[1:3] == ["-m", "pytest"]:
        return argv[3:]
    raise ValueError("--test-cmd must run pytest: `pytest ARGS` or `python -m pytest ARGS`")


def parse_test_cmd(cmd: str) -> TestCommand:
    """Split a pytest command line into kept options and positional test paths.

    Raises:
        ValueError: not a pytest command, or not parseable as a shell command line.
    """
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise ValueError(f"--test-cmd: {exc}") from None
    args = _program(argv)
    options: list[str] = []
    paths: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) <= set("qvxsl"):
            arg = "-" + arg[1:].replace("x", "")  # a flag cluster such as -xq
            if arg == "-":
                i += 1
                continue
        takes_value = arg in _WITH_VALUE or arg == "--maxfail"
        if arg == "-x" or arg.split("=", 1)[0] in _DROPPED:
            i += 2 if arg == "--maxfail" else 1
            continue
        if takes_value:
            if i + 1 >= len(args):
                raise ValueError(f"--test-cmd: {arg} needs a value")
            options += [arg, args[i + 1]]
            i += 2
            continue
        (options if arg.startswith("-") else paths).append(arg)
        i += 1
    return TestCommand(tuple(options), tuple(paths))
