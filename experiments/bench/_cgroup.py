"""Adapter: one memory (and pids) cgroup per sandbox, on cgroup v2 or v1, where the host lets us make one.

A cgroup's memory limit is the only bound on a sandbox's *total* memory: it charges every process of
the sandbox together, and also the pages no rlimit sees (tmpfs files, memfds, SysV shared memory).
Where it holds we create `<parent>/sbx-<pid>-<random>` per sandboxed run and the launcher joins it
before dropping privileges and starting bwrap, so everything inside is charged from the first page.

The parent is found once per process:
- `CODESIEVE_SANDBOX_CGROUP=<dir>`: a cgroup v2 directory delegated to us (memory and pids enabled in
  its `cgroup.subtree_control`), e.g. a systemd `Delegate=yes` unit's; the way for non-root hosts;
- cgroup v2 mounted at /sys/fs/cgroup and we are root: `/sys/fs/cgroup/codesieve-sandbox`;
- cgroup v1 memory hierarchy (as in many containers): `codesieve-sandbox` under our own memory cgroup
  (so the sandbox also counts against the container's limit), and the same under our pids cgroup.
If none works, `find_parent()` returns None and the sandbox falls back to rlimits (see sandbox.py).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_PARENT", "CgroupParent", "SandboxCgroup", "find_parent"]

logger = logging.getLogger(__name__)

ENV_PARENT = "CODESIEVE_SANDBOX_CGROUP"
CGROUP_ROOT = Path("/sys/fs/cgroup")
_PARENT_NAME = "codesieve-sandbox"


@dataclass(frozen=True)
class CgroupParent:
    """Where per-sandbox cgroups are created: one directory (v2) or one per controller (v1)."""

    version: int
    memory: Path
    pids: Path | None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _own_v1_path(controller: str) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


def _v2_parent(path: Path) -> CgroupParent:
    path.mkdir(exist_ok=True)
    wanted = {"memory", "pids"} & set((path / "cgroup.controllers").read_text().split())
    if "memory" not in wanted:
        raise OSError(errno.ENOTSUP, f"memory controller not available in {path}")
    enabled = set((path / "cgroup.subtree_control").read_text().split())
    if wanted - enabled:
        _write(path / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted - enabled)))
    return CgroupParent(2, path, path if "pids" in wanted else None)


def _v1_parent() -> CgroupParent:
    own = _own_v1_path("memory")
    if own is None or not (CGROUP_ROOT / "memory").is_dir():
        raise OSError(errno.ENOTSUP, "no cgroup v1 memory hierarchy")
    memory = CGROUP_ROOT / "memory" / own.lstrip("/") / _PARENT_NAME
    memory.mkdir(exist_ok=True)
    pids = None
    own_pids = _own_v1_path("pids")
    if own_pids is not None and (CGROUP_ROOT / "pids").is_dir():
        with contextlib.suppress(OSError):
            pids = CGROUP_ROOT / "pids" / own_pids.lstrip("/") / _PARENT_NAME
            pids.mkdir(exist_ok=True)
    return CgroupParent(1, memory, pids)


def _locate() -> CgroupParent:
    delegated = os.environ.get(ENV_PARENT)
    if delegated:
        return _v2_parent(Path(delegated))
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        if os.geteuid() != 0:
            raise OSError(errno.EACCES, f"cgroup v2 needs root or a delegated cgroup in ${ENV_PARENT}")
        return _v2_parent(CGROUP_ROOT / _PARENT_NAME)
    return _v1_parent()


def _remove_stale(parent: CgroupParent) -> None:
    """Remove cgroups left by judges that were killed (sbx-<pid>-*, where <pid> is gone)."""
    for base in {parent.memory, parent.pids} - {None}:
        for d in base.glob("sbx-*-*"):  # type: ignore[union-attr]
            pid = d.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    d.rmdir()


@functools.cache
def find_parent() -> CgroupParent | None:
    """The parent for per-sandbox cgroups, probed once (create, limit, remove); None where refused."""
    try:
        parent = _locate()
        SandboxCgroup(parent, memory_bytes=64 << 20, pids_max=8).remove()
        _remove_stale(parent)
    except OSError as exc:
        logger.warning("no memory cgroup for the sandbox (%s): falling back to rlimits", exc)
        return None
    return parent


class SandboxCgroup:
    """One sandbox's cgroup(s): memory limit (no swap) and pids limit; join, inspect, kill, remove."""

    def __init__(self, parent: CgroupParent, *, memory_bytes: int, pids_max: int) -> None:
        self.parent = parent
        name = f"sbx-{os.getpid()}-{secrets.token_hex(4)}"
        self.dirs = [parent.memory / name]
        if parent.pids is not None and parent.pids != parent.memory:
            self.dirs.append(parent.pids / name)
        for d in self.dirs:
            d.mkdir()
        try:
            mem = self.dirs[0]
            if parent.version == 2:
                _write(mem / "memory.max", str(memory_bytes))
                if (mem / "memory.swap.max").exists():
                    _write(mem / "memory.swap.max", "0")
                if parent.pids is not None:
                    _write(mem / "pids.max", str(pids_max))
            else:
                _write(mem / "memory.limit_in_bytes", str(memory_bytes))
                if (mem / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no swap either
                    _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
                if len(self.dirs) > 1:
                    _write(self.dirs[1] / "pids.max", str(pids_max))
        except OSError:
            self.remove()
            raise

    @property
    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files a launcher writes `0` to, to join every cgroup of this sandbox."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of this sandbox for exceeding the memory limit."""
        mem = self.dirs[0]
        name = "memory.events" if self.parent.version == 2 else "memory.oom_control"
        try:
            for line in (mem / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            return False
        return False

    def kill(self) -> None:
        """SIGKILL every process still in the sandbox's cgroup (cgroup.kill on v2, a sweep on v1)."""
        mem = self.dirs[0]
        if (mem / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(mem / "cgroup.kill", "1")
            return
        for _ in range(20):
            try:
                pids = [int(p) for p in (mem / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Remove the cgroup(s); waits briefly for dying processes to leave."""
        deadline = time.monotonic() + 2.0
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        logger.warning("could not remove %s: %s", d, exc)
                        break
                    time.sleep(0.01)
