"""The sandbox's seccomp filter, built with libseccomp (`pyseccomp`, its ctypes binding) for bubblewrap's --seccomp.

The filter is a deny list on top of the namespaces: it refuses the syscalls a test program never needs
and that widen the kernel attack surface (ptrace, mounts, namespaces, kernel modules, bpf, keyrings,
io_uring, ...), and sockets of any family but AF_UNIX. Refused calls fail with EPERM rather than
killing the process, so the program sees an ordinary error and the verdict stays a plain failure.
Another ABI (i386 `int 0x80`, x32) kills the process. libseccomp resolves the syscall names and
assembles the BPF (it replaced our hand-assembled program: issue 18). Only x86-64 is described;
elsewhere `build_seccomp_filter` returns None and the sandbox runs without.
"""

from __future__ import annotations

import errno
import socket
import tempfile

__all__ = ["DENIED_SYSCALLS", "UNACCOUNTED_MEMORY_SYSCALLS", "build_seccomp_filter"]

DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace",
    "syslog",
    "vhangup",
    "pivot_root",
    "adjtimex",
    "chroot",
    "acct",
    "settimeofday",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "reboot",
    "iopl",
    "ioperm",
    "init_module",
    "delete_module",
    "quotactl",
    "clock_settime",
    "kexec_load",
    "add_key",
    "request_key",
    "keyctl",
    "unshare",
    "perf_event_open",
    "fanotify_init",
    "name_to_handle_at",
    "open_by_handle_at",
    "clock_adjtime",
    "setns",
    "process_vm_readv",
    "process_vm_writev",
    "finit_module",
    "kexec_file_load",
    "bpf",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
)
# Memory no rlimit counts: refused when the sandbox has no memory cgroup to charge it to.
UNACCOUNTED_MEMORY_SYSCALLS: tuple[str, ...] = ("shmget", "memfd_create")


def build_seccomp_filter(machine: str, *, deny_unaccounted_memory: bool = False) -> bytes | None:
    """Build the deny-list filter for `machine` (as `platform.machine()` names it).

    Args:
        machine: CPU architecture name, e.g. "x86_64".
        deny_unaccounted_memory: also refuse memfd_create and shmget (no memory cgroup counts them).
    Returns:
        the BPF program (packed `struct sock_filter` records, what bwrap --seccomp reads), or None
        where no table exists.
    """
    if machine not in ("x86_64", "amd64", "AMD64"):
        return None
    import pyseccomp as seccomp  # libseccomp's ctypes binding; only the evaluation sandbox needs it

    deny = seccomp.ERRNO(errno.EPERM)
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)  # i386 and x32 calls
    for name in DENIED_SYSCALLS + (UNACCOUNTED_MEMORY_SYSCALLS if deny_unaccounted_memory else ()):
        f.add_rule(deny, name)
    f.add_rule(deny, "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()
