"""MultiPL-E languages: how each one's program is assembled, built and run in the sandbox, and judged.

A MultiPL-E test is a program in the target language (prompt + completion + translated tests) whose
asserts exit non-zero on failure. A zero exit alone is not a pass (a candidate can `exit(0)` early):
the judge also needs a success line that only the finished tests can print.

Bash (`sh`): the verdict cannot be forged. The tests already call the candidate through `$(...)`, so
they run in a trusted shell process of their own and call the candidate as a separate process
(`cand.sh`, which never contains a test). The trusted shell is an execute-only copy of bash, so
the kernel makes it non-dumpable and its memory, fds and environment are closed to the candidate
(same uid, no capabilities). The tests and a per-run secret reach it on stdin, never as a file (so
not through bwrap's memory either), and are read before the first candidate call, which gets
/dev/null as stdin. It prints the secret only after the last assert, and the judge, which never puts
the secret anywhere else, needs that line and exit status 0. A candidate that reads every
file and every process it can reach finds neither the secret nor the expected values.

The other languages (js, ts, cpp, java, rs, go, pl) call the candidate in-process, so the candidate
shares the tests' memory: the success line is a fresh random marker printed after the last assert. It
defeats early exits and accidental passes, not a sample written to search its own program or memory
for the marker; the expected values are inside the sandbox there too. Judging those languages
adversarially needs per-language out-of-process tests (like bash's, or the Python judge's).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import dataclass, replace

from codesieve.core.benchmarks import Problem
from experiments.bench.harness import SampleVerdict
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
    # "end": append; "before_last_brace": before the last "}"; "before_2nd_last_brace"; "isolated":
    # the tests run in their own process (build_sh_files)
    marker_at: str
    address_space_mb: int = 4096
    memory_mb: int = 2048  # the whole sandbox, compiler included (cgroup; see sandbox.py)
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
    # Tests in an execute-only (so non-dumpable) copy of bash, the candidate in its own process.
    "sh": LanguageSpec(
        "sh",
        "cand.sh",
        "cp /usr/bin/bash .tb && chmod 0111 .tb && exec ./.tb -s",
        ("bash",),
        "",
        "isolated",
    ),
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


# A bash test's `candidate() { fn "$@"; }` wrapper: what separates the candidate's part from the tests.
_SH_CANDIDATE_DEF = re.compile(r"^candidate\(\) \{\n.*?^\}\n", re.DOTALL | re.MULTILINE)


def build_sh_sample(problem: Problem, completion: str, secret: str) -> tuple[dict[str, bytes], bytes]:
    """The bash sample as `cand.sh` (prompt + completion, runs one call) and the tests, fed on stdin.

    `cand.sh` sends what its top level prints to stderr (the single-file original printed it outside
    the tested `$(...)`), then runs one `candidate "$@"`. The tests are one `{ }` group, parsed whole
    before it runs; bash reads a script on stdin byte by byte, so the line after the group (the
    secret) is still in the pipe for its first `read`. Neither ever exists as a file in the sandbox.
    """
    match = _SH_CANDIDATE_DEF.search(problem.test)
    if match is None:
        raise ValueError(f"{problem.task_id}: bash tests have no candidate() wrapper")
    candidate = "exec 3>&1 1>&2\n" + problem.prompt + completion + "\n" + problem.test[: match.end()]
    candidate += 'exec 1>&3 3>&-\ncandidate "$@"\n'
    tests = (
        "{\n"
        "read -r __codesieve_secret || exit 3\n"
        "exec 0</dev/null\n"
        'candidate() { /usr/bin/bash /work/cand.sh "$@"; }\n'
        + problem.test[match.end() :].rstrip()
        + "\nprintf '%s\\n' \"$__codesieve_secret\"\n}\n"
    )
    return {"cand.sh": candidate.encode()}, (tests + secret + "\n").encode()


def judge_multipl_e(problem: Problem, completion: str, base_cfg: SandboxConfig) -> SampleVerdict:
    """Build and run one MultiPL-E sample in the sandbox; judge exit status and the success line."""
    started = time.monotonic()
    spec = LANGUAGES[problem.language]
    marker = "__codesieve_done_" + secrets.token_hex(16)
    stdin = b""
    if spec.marker_at == "isolated":
        marker = secrets.token_hex(32)
        files, stdin = build_sh_sample(problem, completion, marker)
    else:
        files = {spec.source_file: build_program(spec, problem, completion, marker).encode()}
    cfg = replace(
        base_cfg,
        timeout_s=max(base_cfg.timeout_s, spec.timeout_s),
        cpu_s=max(base_cfg.cpu_s, int(spec.timeout_s)),
        address_space_mb=max(base_cfg.address_space_mb, spec.address_space_mb),
        memory_mb=max(base_cfg.memory_mb, spec.memory_mb),
        nproc=max(base_cfg.nproc, spec.nproc),
        nofile=max(base_cfg.nofile, 1024),
        fsize_mb=max(base_cfg.fsize_mb, 256),
        tmpfs_mb=max(base_cfg.tmpfs_mb, 512),
        env=base_cfg.env + spec.env,
    )
    result = run_sandboxed(["/bin/sh", "-c", spec.script], files=files, cfg=cfg, stdin=stdin)
    has_marker = any(line.strip() == marker for line in result.stdout.decode("utf-8", "replace").splitlines())
    if result.status == "ok" and has_marker:
        category, detail = "passed", ""
    elif result.status in ("timeout", "cpu_limit"):
        category, detail = "timeout", result.status
    elif result.status == "memory_limit":
        category, detail = "memory", f"over the sandbox's {cfg.memory_mb} MB"
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
