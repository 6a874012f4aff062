"""MultiPL-E languages: how each one's program is assembled, built and run in the sandbox, and judged.

A MultiPL-E test is a program in the target language (prompt + completion + translated tests) whose
asserts exit non-zero on failure. The judge needs both a zero exit and a completion marker: a line
with a fresh random nonce that the harness prints after the last assert, so a candidate that exits
early (`exit(0)`, `process.exit(0)`, `os.Exit(0)`) fails. Unlike the Python judge, the expected values
are inside the sandbox here (they are compiled into the program); the marker only defeats early exits,
not a program that searches its own memory for the nonce.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass, replace

from experiments.bench.harness import SampleVerdict
from experiments.bench.problems import Problem
from experiments.bench.sandbox import SandboxConfig, run_sandboxed

__all__ = ["LANGUAGES", "LanguageSpec", "check_toolchain", "judge_multipl_e", "missing_toolchains"]

COMPILE_ERROR_EXIT = 200  # what the build step's `|| exit 200` reports
_JAVA_CP = "/usr/share/java/javatuples.jar"  # Debian libjavatuples-java: org.javatuples.Pair etc.
# JVM: cap the heap and the reserved code/class spaces so it fits under RLIMIT_AS.
_JVM_FLAGS = (
    "-Xmx512m -Xss8m -XX:ReservedCodeCacheSize=64m -XX:CompressedClassSpaceSize=64m "
    "-XX:MaxMetaspaceSize=128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"
)


@dataclass(frozen=True)
class LanguageSpec:
    """How one language is built and run; `script` runs under /bin/sh in /work."""

    name: str
    source_file: str
    script: str
    tools: tuple[str, ...]  # executables that must exist on the host (under /usr)
    marker_stmt: str  # statement printing the marker; {marker} is substituted
    marker_at: str  # "end": append; "before_last_brace": before the last "}"; "before_2nd_last_brace"
    address_space_mb: int = 4096
    nproc: int = 128
    timeout_s: float = 30.0
    env: tuple[tuple[str, str], ...] = ()


LANGUAGES: dict[str, LanguageSpec] = {
    "js": LanguageSpec(
        "js",
        "prog.js",
        "exec node prog.js",
        ("node",),
        'console.log("{marker}");',
        "end",
        address_space_mb=16384,  # V8 reserves its heap cage up front
    ),
    "ts": LanguageSpec(
        "ts",
        "prog.ts",
        "tsc --target es2020 --lib es2020,dom --module commonjs --skipLibCheck prog.ts >&2 "
        f"|| exit {COMPILE_ERROR_EXIT}; exec node prog.js",
        ("tsc", "node"),
        'console.log("{marker}");',
        "end",
        address_space_mb=16384,
        timeout_s=60.0,
    ),
    "cpp": LanguageSpec(
        "cpp",
        "prog.cpp",
        f"g++ -std=c++17 -O0 -o prog prog.cpp >&2 || exit {COMPILE_ERROR_EXIT}; exec ./prog",
        ("g++",),
        'std::cout << "{marker}" << std::endl;',
        "before_last_brace",
    ),
    "java": LanguageSpec(
        "java",
        "Problem.java",
        f"javac -J-Xmx512m -cp {_JAVA_CP} -d . Problem.java >&2 || exit {COMPILE_ERROR_EXIT}; "
        f"exec java {_JVM_FLAGS} -ea -cp {_JAVA_CP}:. Problem",
        ("javac", "java"),
        'System.out.println("{marker}");',
        "before_2nd_last_brace",
        address_space_mb=8192,
        nproc=512,
        timeout_s=60.0,
    ),
    "rs": LanguageSpec(
        "rs",
        "prog.rs",
        f"rustc --edition 2021 -o prog prog.rs >&2 || exit {COMPILE_ERROR_EXIT}; exec ./prog",
        ("rustc",),
        'println!("{marker}");',
        "before_last_brace",
        timeout_s=60.0,
    ),
    "go": LanguageSpec(
        "go",
        "prog_test.go",
        "exec go test -v -count=1 prog_test.go",
        ("go",),
        'func TestZzzCodesieveDone(t *testing.T) { fmt.Println("{marker}") }',
        "end",
        address_space_mb=8192,
        nproc=256,
        timeout_s=60.0,
        env=(("GOCACHE", "/tmp/gocache"), ("GOPATH", "/tmp/go"), ("GO111MODULE", "off"), ("CGO_ENABLED", "0")),
    ),
    "sh": LanguageSpec("sh", "prog.sh", "exec bash prog.sh", ("bash",), 'echo "{marker}"', "end"),
    "pl": LanguageSpec("pl", "prog.pl", "exec perl prog.pl", ("perl",), 'print "\\n{marker}\\n";', "end"),
}


def missing_toolchains(language: str) -> list[str]:
    """Tools of `language` that are not installed (empty when it can run)."""
    spec = LANGUAGES[language]
    return [tool for tool in spec.tools if shutil.which(tool, path="/usr/bin:/bin") is None]


def check_toolchain(language: str) -> None:
    """Raise RuntimeError naming what to install when `language` cannot run here."""
    if language not in LANGUAGES:
        raise ValueError(f"no toolchain for language {language!r}")
    missing = missing_toolchains(language)
    if missing:
        raise RuntimeError(f"{language}: missing {', '.join(missing)} (run scripts/install-sysdeps.sh as root)")


def build_program(spec: LanguageSpec, problem: Problem, completion: str, marker: str) -> str:
    """prompt + completion + tests, with the marker statement placed after the last assert."""
    tests = problem.test
    stmt = spec.marker_stmt.replace("{marker}", marker)
    if spec.marker_at == "end":
        tests = tests.rstrip() + "\n" + stmt + "\n"
    else:
        cut = tests.rfind("}")
        if spec.marker_at == "before_2nd_last_brace":
            cut = tests.rfind("}", 0, cut)
        if cut < 0:
            raise ValueError(f"{problem.task_id}: tests have no closing brace for the marker")
        tests = tests[:cut] + stmt + "\n" + tests[cut:]
    return problem.prompt + completion + "\n" + tests


def judge_multipl_e(problem: Problem, completion: str, base_cfg: SandboxConfig) -> SampleVerdict:
    """Build and run one MultiPL-E sample in the sandbox; judge exit status and completion marker."""
    started = time.monotonic()
    spec = LANGUAGES[problem.language]
    marker = "__codesieve_done_" + secrets.token_hex(16)
    program = build_program(spec, problem, completion, marker)
    cfg = replace(
        base_cfg,
        timeout_s=max(base_cfg.timeout_s, spec.timeout_s),
        cpu_s=max(base_cfg.cpu_s, int(spec.timeout_s)),
        address_space_mb=max(base_cfg.address_space_mb, spec.address_space_mb),
        nproc=max(base_cfg.nproc, spec.nproc),
        nofile=max(base_cfg.nofile, 1024),
        fsize_mb=max(base_cfg.fsize_mb, 256),
        tmpfs_mb=max(base_cfg.tmpfs_mb, 512),
        env=base_cfg.env + spec.env,
    )
    result = run_sandboxed(["/bin/sh", "-c", spec.script], files={spec.source_file: program.encode()}, cfg=cfg)
    has_marker = any(line.strip() == marker for line in result.stdout.decode("utf-8", "replace").splitlines())
    if result.status == "ok" and has_marker:
        category, detail = "passed", ""
    elif result.status in ("timeout", "cpu_limit"):
        category, detail = "timeout", result.status
    elif result.exit_code == COMPILE_ERROR_EXIT or (
        spec.name == "go" and ("[build failed]" in result.stdout_tail or "[setup failed]" in result.stdout_tail)
    ):
        category, detail = "syntax_error", result.stderr_tail[-300:]
    elif result.status == "ok":
        category, detail = "early_exit", "exited 0 before the tests finished"
    elif result.status == "killed":
        category, detail = "crash", f"killed (exit {result.exit_code})"
    else:
        category, detail = "assertion", f"exit {result.exit_code}: {result.stderr_tail[-300:]}"
    return SampleVerdict(
        passed=category == "passed",
        category=category,
        detail=detail,
        duration_s=time.monotonic() - started,
    )
