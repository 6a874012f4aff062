"""Pure builder of the sandbox's seccomp filter: a classic-BPF program that bubblewrap loads (--seccomp).

The filter is a deny list on top of the namespaces: it refuses the syscalls a test program never needs
and that widen the kernel attack surface (ptrace, mounts, namespaces, kernel modules, bpf, keyrings,
io_uring, ...), and sockets of any family but AF_UNIX. Refused calls fail with EPERM rather than
killing the process, so the program sees an ordinary error and the verdict stays a plain failure.
Only x86-64 is described; elsewhere `build_seccomp_filter` returns None and the sandbox runs without.
"""

from __future__ import annotations

import struct

__all__ = ["DENIED_SYSCALLS_X86_64", "UNACCOUNTED_MEMORY_SYSCALLS_X86_64", "build_seccomp_filter"]

# Syscall numbers from arch/x86/entry/syscalls/syscall_64.tbl (Linux 6.x).
DENIED_SYSCALLS_X86_64: dict[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "vhangup": 153,
    "pivot_root": 155,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
# Memory no rlimit counts: refused when the sandbox has no memory cgroup to charge it to.
UNACCOUNTED_MEMORY_SYSCALLS_X86_64: dict[str, int] = {"shmget": 29, "memfd_create": 319}
_SYS_SOCKET_X86_64 = 41
_AF_UNIX = 1

# <linux/audit.h>, <linux/seccomp.h>, <linux/filter.h>
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO_EPERM = 0x00050000 | 1
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_seccomp_filter(machine: str, *, deny_unaccounted_memory: bool = False) -> bytes | None:
    """Build the deny-list filter for `machine` (as `platform.machine()` names it).

    Args:
        machine: CPU architecture name, e.g. "x86_64".
        deny_unaccounted_memory: also refuse memfd_create and shmget (no memory cgroup counts them).
    Returns:
        the BPF program as packed `struct sock_filter` records, or None where no table exists.
    """
    if machine not in ("x86_64", "amd64", "AMD64"):
        return None
    table = dict(DENIED_SYSCALLS_X86_64)
    if deny_unaccounted_memory:
        table.update(UNACCOUNTED_MEMORY_SYSCALLS_X86_64)
    denied = sorted(table.values())
    prog: list[bytes] = [
        _insn(_LD_W_ABS, 0, 0, _OFF_ARCH),
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),  # foreign ABI (i386 int 0x80): kill outright
        _insn(_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    # Layout after the header, indexed from 0: [x32 check][n JEQs, one per denied nr][socket JEQ]
    # [ALLOW][arg0 load][AF_UNIX JEQ][ALLOW][DENY], so DENY sits at n + 6. A jump at index j to
    # index t has offset t - (j + 1).
    n = len(denied)
    deny_at = n + 6
    prog.append(_insn(_JGE_K, deny_at - 1, 0, _X32_SYSCALL_BIT))
    for i, nr in enumerate(denied):
        prog.append(_insn(_JEQ_K, deny_at - (i + 2), 0, nr))
    prog.append(_insn(_JEQ_K, 1, 0, _SYS_SOCKET_X86_64))  # socket(): check the family below
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    prog.append(_insn(_LD_W_ABS, 0, 0, _OFF_ARG0))
    prog.append(_insn(_JEQ_K, 0, 1, _AF_UNIX))
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    prog.append(_insn(_RET_K, 0, 0, _RET_ERRNO_EPERM))
    return b"".join(prog)
