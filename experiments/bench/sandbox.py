"""The only place where code is executed: untrusted programs in a bubblewrap sandbox, trusted test code.

Each untrusted program runs in its own `bwrap` process tree:
- new user, pid, network, mount, IPC, UTS and cgroup namespaces; a cleared environment; `/usr`
  read-only, nothing else of the host's file system but a minimal read-only `/etc`;
- every writable place is a size-capped tmpfs: `/work` and `/tmp` (`tmpfs_mb` each) and `/dev/shm`
  (`shm_mb`); `/`, `/dev` and `/usr/local` are remounted read-only;
- a non-root uid inside, and bwrap itself started as an unprivileged host uid when we are root
  (RLIMIT_NPROC does not bind host root, so a fork bomb is only contained when the host uid is not 0);
- rlimits (address space, CPU, processes, open files, file size) set by `prlimit` as the pre-exec
  wrapper inside the namespaces, so they count only this sandbox's processes;
- a seccomp deny-list (see `_seccomp.py`) where the architecture has one;
- a wall-clock deadline, after which the whole process group is killed; the pid namespace takes every
  process the program started (setsid orphans included) down with its init.

Memory, and what holds where:
- with a cgroup (`_cgroup.py`: v2, delegated v2, or v1; this is what CI and our dev hosts have), the
  sandbox's *total* memory is capped at `memory_mb`: all its processes together, tmpfs files, memfds
  and SysV shared memory are charged to it, swap is refused, and a sandbox over the cap is OOM-killed
  (status "memory_limit"). pids.max caps its processes at `nproc` too.
- without one (no v1 hierarchy, cgroup v2 without root or delegation) the bound is the sum of the
  parts, honestly looser: `nproc` processes x `address_space_mb` each + the tmpfs caps; memfd_create
  and SysV shmget (which no rlimit counts) are refused by seccomp. `SandboxConfig.require_cgroup`
  turns the fallback into an error.

Inputs enter as files copied from memfds (`--file`), never through argv or the environment.
Generated code is executed only inside a `SandboxSession` (by a language toolchain, or by the Python
guest `wire.py`, which is itself copied into the sandbox). `load_trusted_namespace` is the one
in-process `exec`, for benchmark test code only (never model output): the Python judge
(`harness.py`) runs the tests outside the sandbox so that their answers stay outside.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from experiments.bench._cgroup import SandboxCgroup, find_parent
from experiments.bench._seccomp import build_seccomp_filter

__all__ = [
    "SandboxConfig",
    "SandboxError",
    "SandboxResult",
    "SandboxSession",
    "SandboxStatus",
    "check_sandbox_available",
    "load_trusted_namespace",
    "run_sandboxed",
]

logger = logging.getLogger(__name__)

SandboxStatus = Literal["ok", "exit_nonzero", "timeout", "cpu_limit", "killed", "output_limit", "memory_limit"]

WORK_DIR = "/work"
# uid/gid the program sees inside its user namespace (non-root), and the host uid bwrap is started
# as when we are root: Debian's `nobody`.
INSIDE_UID = 1000
HOST_UID_WHEN_ROOT = 65534
# Read-only parts of /etc that interpreters and compilers read (dynamic loader cache, the
# `alternatives` symlinks behind /usr/bin/java and friends, the JDK's configuration).
ETC_RO_PATHS = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/java-17-openjdk",
    "/etc/perl",
)
_TAIL_BYTES = 4096
_SIGXCPU_EXIT = 128 + signal.SIGXCPU  # bwrap's init reports a signalled child as 128 + signo
_SIGKILL_EXIT = 128 + signal.SIGKILL


class SandboxError(RuntimeError):
    """The sandbox itself cannot run (bwrap or prlimit missing, namespaces refused)."""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and mounts for one sandboxed run. Defaults fit one Python test program."""

    timeout_s: float = 10.0  # wall clock for the whole run, compile included
    cpu_s: int = 10  # RLIMIT_CPU (SIGXCPU, then SIGKILL)
    address_space_mb: int = 2048  # RLIMIT_AS; JVM/V8/Go reserve more virtual memory: raise per language
    nproc: int = 64  # RLIMIT_NPROC: processes+threads of the sandbox uid inside its user namespace
    nofile: int = 64  # RLIMIT_NOFILE
    fsize_mb: int = 16  # RLIMIT_FSIZE: largest file the program may write
    tmpfs_mb: int = 64  # size cap of /work (and of /tmp, separately)
    shm_mb: int = 16  # size cap of /dev/shm (POSIX shared memory, semaphores)
    memory_mb: int = 1024  # the whole sandbox's memory (cgroup): processes, tmpfs, memfds together
    use_cgroup: bool = True  # False: rlimits-only fallback even where a cgroup could be made
    require_cgroup: bool = False  # True: refuse to run (SandboxError) where no cgroup can be made
    output_limit_bytes: int = 8 << 20  # stdout read before the run is cut off as output_limit
    ro_binds: tuple[str, ...] = ()  # extra host paths mounted read-only at the same place
    ro_mounts: tuple[tuple[str, str], ...] = ()  # (host path, path inside) mounted read-only elsewhere
    env: tuple[tuple[str, str], ...] = ()  # the only environment the program gets (plus PATH/HOME)
    enable_seccomp: bool = True
    bwrap_path: str = "bwrap"
    prlimit_path: str = "/usr/bin/prlimit"


@dataclass(frozen=True)
class SandboxResult:
    """What a finished run left behind: plain data only."""

    status: SandboxStatus
    stdout_tail: str
    duration_s: float
    exit_code: int | None = None
    stderr_tail: str = ""
    stdout: bytes = field(default=b"", repr=False)  # full stdout (bounded by output_limit_bytes)


def check_sandbox_available(cfg: SandboxConfig | None = None) -> None:
    """Raise SandboxError with an actionable message when bwrap or prlimit is missing."""
    cfg = cfg or SandboxConfig()
    if shutil.which(cfg.bwrap_path) is None:
        raise SandboxError("bubblewrap (bwrap) not found: run scripts/install-sysdeps.sh as root")
    if not os.access(cfg.prlimit_path, os.X_OK):
        raise SandboxError(f"{cfg.prlimit_path} not found (util-linux)")


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)  # Popen's pass_fds hands it to bwrap alone
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _bwrap_argv(cfg: SandboxConfig, files: Mapping[str, int], seccomp_fd: int | None) -> list[str]:
    argv = [cfg.bwrap_path, "--unshare-all", "--die-with-parent", "--new-session"]
    argv += ["--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--hostname", "sandbox"]
    argv += ["--ro-bind", "/usr", "/usr", "--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in ETC_RO_PATHS + cfg.ro_binds:
        argv += ["--ro-bind-try", path, path]
    for host, inside in cfg.ro_mounts:
        argv += ["--ro-bind", host, inside]
    # --dev is an uncapped tmpfs: make it read-only (device nodes stay usable) and cap /dev/shm.
    argv += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    argv += ["--size", str(cfg.shm_mb << 20), "--tmpfs", "/dev/shm"]
    size = str(cfg.tmpfs_mb << 20)
    argv += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", WORK_DIR]
    for name, fd in files.items():
        argv += ["--file", str(fd), f"{WORK_DIR}/{name}"]
    argv += ["--remount-ro", "/"]  # bwrap's root is a tmpfs too: nothing may be written there
    argv += ["--chdir", WORK_DIR, "--clearenv"]
    env = {"PATH": "/usr/bin:/bin", "HOME": WORK_DIR, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    env.update(dict(cfg.env))
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return argv


def _prlimit_argv(cfg: SandboxConfig) -> list[str]:
    return [
        cfg.prlimit_path,
        f"--as={cfg.address_space_mb << 20}",
        # soft < hard: SIGXCPU (reported as cpu_limit) arrives a second before the SIGKILL
        f"--cpu={cfg.cpu_s}:{cfg.cpu_s + 1}",
        f"--nproc={cfg.nproc}",
        f"--nofile={cfg.nofile}",
        f"--fsize={cfg.fsize_mb << 20}",
        "--core=0",
        "--",
    ]


def _make_cgroup(cfg: SandboxConfig) -> SandboxCgroup | None:
    parent = find_parent() if cfg.use_cgroup else None
    if parent is None:
        if cfg.require_cgroup:
            raise SandboxError("no memory cgroup can be created here (see experiments/bench/_cgroup.py)")
        return None
    try:
        return SandboxCgroup(parent, memory_bytes=cfg.memory_mb << 20, pids_max=cfg.nproc)
    except OSError as exc:
        raise SandboxError(f"cannot create the sandbox's cgroup: {exc}") from None


def _launcher_argv(cgroup: SandboxCgroup | None) -> list[str]:
    """Join the sandbox's cgroup(s), drop root, then exec bwrap: charged from its first page."""
    if cgroup is None:
        return []
    join = " && ".join(f"echo 0 > {shlex.quote(f)}" for f in cgroup.procs_files)
    argv = ["/bin/sh", "-c", f'{join} && exec "$@"', "sh"]
    if os.geteuid() == 0:
        uid = str(HOST_UID_WHEN_ROOT)
        argv += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return argv


class SandboxSession:
    """One sandboxed process with pipes, for request/response use (the Python judge) or batch runs.

    Use as a context manager; leaving it kills whatever is still running.
    """

    def __init__(self, argv: Sequence[str], *, files: Mapping[str, bytes], cfg: SandboxConfig) -> None:
        check_sandbox_available(cfg)
        self.cfg = cfg
        self.cgroup = _make_cgroup(cfg)
        self._fds = {name: _memfd(name, data) for name, data in files.items()}
        bpf = None
        if cfg.enable_seccomp:
            # Without a cgroup nothing counts memfds and SysV shared memory: refuse them instead.
            bpf = build_seccomp_filter(platform.machine(), deny_unaccounted_memory=self.cgroup is None)
        self._seccomp_fd = _memfd("seccomp", bpf) if bpf is not None else None
        full = _launcher_argv(self.cgroup) + _bwrap_argv(cfg, self._fds, self._seccomp_fd) + ["--"]
        full += _prlimit_argv(cfg) + list(argv)
        pass_fds = list(self._fds.values())
        if self._seccomp_fd is not None:
            pass_fds.append(self._seccomp_fd)
        drop: dict[str, Any] = {}
        if os.geteuid() == 0 and self.cgroup is None:  # with a cgroup the launcher drops privileges
            drop = {"user": HOST_UID_WHEN_ROOT, "group": HOST_UID_WHEN_ROOT, "extra_groups": []}
        self.started = time.monotonic()
        self.deadline = self.started + cfg.timeout_s
        try:
            self.proc = subprocess.Popen(
                full,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=pass_fds,
                start_new_session=True,  # its own process group: one killpg takes the whole tree
                env={"PATH": "/usr/bin:/bin"},  # bwrap's own environ is readable inside: keep it empty
                cwd="/",
                **drop,
            )
        except BaseException:
            for fd in pass_fds:
                os.close(fd)
            if self.cgroup is not None:
                self.cgroup.remove()
            raise
        for fd in pass_fds:
            os.close(fd)
        self._buf = b""
        self._stdout_total = 0
        self._stdout_keep = bytearray()
        self._stderr_tail = bytearray()
        self.timed_out = False
        self.output_exceeded = False

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, data: bytes) -> bool:
        """Write to the program's stdin; False when it is gone."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def _pump(self, timeout_s: float) -> bool:
        """Read what is ready on stdout/stderr; False when both are at EOF."""
        streams = [s for s in (self.proc.stdout, self.proc.stderr) if s is not None and not s.closed]
        if not streams:
            return False
        ready, _, _ = select.select(streams, [], [], max(timeout_s, 0.0))
        for stream in ready:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                stream.close()
            elif stream is self.proc.stdout:
                self._stdout_total += len(chunk)
                self._buf += chunk
                self._stdout_keep += chunk
                if self._stdout_total > self.cfg.output_limit_bytes:
                    self.output_exceeded = True
                    self.kill()
                    return False
            else:
                self._stderr_tail = (self._stderr_tail + chunk)[-_TAIL_BYTES:]
        return True

    def read_line(self) -> bytes | None:
        """The next stdout line (without newline), or None at EOF, deadline or output limit."""
        while b"\n" not in self._buf:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                self.kill()
                return None
            if not self._pump(remaining) and b"\n" not in self._buf:
                return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def wait(self) -> SandboxResult:
        """Read until the program exits (or the deadline passes) and describe the run."""
        self.close_stdin()
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                self.kill()
                break
            if not self._pump(remaining):
                break
        try:
            code = self.proc.wait(timeout=max(self.deadline - time.monotonic(), 0.05))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.kill()
            code = self.proc.returncode
        return self.result(code)

    def result(self, code: int | None) -> SandboxResult:
        status: SandboxStatus
        if self.output_exceeded:
            status = "output_limit"
        elif code != 0 and self.cgroup is not None and self.cgroup.oom_killed():
            status = "memory_limit"
        elif self.timed_out:
            status = "timeout"
        elif code == 0:
            status = "ok"
        elif code == _SIGXCPU_EXIT:
            status = "cpu_limit"
        elif code is not None and (code < 0 or code == _SIGKILL_EXIT):
            status = "killed"
        else:
            status = "exit_nonzero"
        out = bytes(self._stdout_keep)
        return SandboxResult(
            status=status,
            stdout_tail=out[-_TAIL_BYTES:].decode("utf-8", "replace"),
            duration_s=time.monotonic() - self.started,
            exit_code=code,
            stderr_tail=bytes(self._stderr_tail).decode("utf-8", "replace"),
            stdout=out,
        )

    def kill(self) -> None:
        """Kill the whole process group and reap bwrap; the pid namespace takes the rest down."""
        self.close_stdin()
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError as exc:  # already gone
                if exc.errno != errno.ESRCH:
                    raise
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        if self.cgroup is not None:
            self.cgroup.kill()

    def close(self) -> None:
        """Kill what is left and remove the sandbox's cgroup."""
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()


def run_sandboxed(
    argv: Sequence[str],
    *,
    files: Mapping[str, bytes],
    cfg: SandboxConfig,
    stdin: bytes = b"",
) -> SandboxResult:
    """Run `argv` inside a fresh sandbox with `files` in /work and return how it ended."""
    with SandboxSession(argv, files=files, cfg=cfg) as session:
        if stdin:
            session.send(stdin)
        return session.wait()


def load_trusted_namespace(
    source: str, *, filename: str, bindings: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """Execute trusted benchmark code (prompt helpers, test functions) in-process; return its globals.

    Never call this with model output: generated code only runs through `SandboxSession`.
    `bindings` are placed in the namespace first (the judge binds the candidate's proxies).
    """
    namespace: dict[str, Any] = {"__name__": "__benchmark_test__"}
    namespace.update(bindings or {})
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - benchmark code, not model output
    return namespace
