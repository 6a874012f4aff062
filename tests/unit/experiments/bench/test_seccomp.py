"""The sandbox's seccomp program, rule by rule: each denied syscall gets EPERM, others are allowed,
sockets only AF_UNIX, other ABIs are killed. The program libseccomp assembled is run here on a small
classic-BPF interpreter (the kernel's semantics for the opcodes libseccomp emits; an unknown opcode
fails the test), so a rule that went missing from the bytes bwrap loads fails its own test case."""

from __future__ import annotations

import errno
import socket
import struct

import pyseccomp
import pytest

from experiments.bench._seccomp import DENIED_SYSCALLS, UNACCOUNTED_MEMORY_SYSCALLS, build_seccomp_filter

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000
ALLOW, KILL_PROCESS, EPERM = 0x7FFF0000, 0x80000000, 0x00050000 | errno.EPERM
_JUMPS = {0x15: lambda a, k: a == k, 0x25: lambda a, k: a > k, 0x35: lambda a, k: a >= k, 0x45: lambda a, k: a & k}


def _nr(name: str) -> int:
    return pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, name)


def run_filter(prog: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64) -> int:
    """What the kernel's seccomp would return for this call (struct seccomp_data, little-endian)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack("=HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # LD W ABS
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x00:  # LD IMM
            a = k
        elif code == 0x60:  # LD MEM
            a = mem[k]
        elif code == 0x01:  # LDX IMM
            x = k
        elif code == 0x02:  # ST
            mem[k] = a
        elif code == 0x54:  # ALU AND K
            a &= k
        elif code == 0x05:  # JA
            pc += k
        elif code in _JUMPS:
            pc += jt if _JUMPS[code](a, k) else jf
        elif code == 0x06:  # RET K
            return k
        elif code == 0x16:  # RET A
            return a
        else:
            raise AssertionError(f"opcode {code:#x} not interpreted (x={x})")


@pytest.fixture(scope="module")
def prog() -> bytes:
    built = build_seccomp_filter("x86_64")
    assert built is not None and len(built) % 8 == 0 and len(built) // 8 <= 4096  # BPF_MAXINSNS
    return built


def test_no_filter_for_unknown_architectures() -> None:
    assert build_seccomp_filter("riscv64") is None


@pytest.mark.parametrize("name", DENIED_SYSCALLS)
def test_each_denied_syscall_gets_eperm(prog: bytes, name: str) -> None:
    assert run_filter(prog, _nr(name)) == EPERM


@pytest.mark.parametrize("name", ["read", "write", "openat", "mmap", "clone", "execve", "exit_group", "futex"])
def test_ordinary_syscalls_are_allowed(prog: bytes, name: str) -> None:
    assert run_filter(prog, _nr(name)) == ALLOW


@pytest.mark.parametrize(
    ("family", "verdict"),
    [
        (socket.AF_UNIX, ALLOW),
        (socket.AF_INET, EPERM),
        (socket.AF_INET6, EPERM),
        (socket.AF_NETLINK, EPERM),
        (socket.AF_PACKET, EPERM),
    ],
)
def test_sockets_only_af_unix(prog: bytes, family: int, verdict: int) -> None:
    assert run_filter(prog, _nr("socket"), (family, socket.SOCK_STREAM, 0)) == verdict


def test_other_abis_are_killed(prog: bytes) -> None:
    assert run_filter(prog, 26, arch=AUDIT_ARCH_I386) == KILL_PROCESS  # i386 ptrace via int 0x80
    assert run_filter(prog, X32_SYSCALL_BIT | _nr("read")) == KILL_PROCESS


@pytest.mark.parametrize("name", UNACCOUNTED_MEMORY_SYSCALLS)
def test_memfd_and_sysv_shm_denied_only_without_a_memory_cgroup(prog: bytes, name: str) -> None:
    """Issue 13: 870 MB of memfds escaped RLIMIT_AS; without a cgroup to charge them, refuse them."""
    fallback = build_seccomp_filter("x86_64", deny_unaccounted_memory=True)
    assert fallback is not None
    assert run_filter(prog, _nr(name)) == ALLOW
    assert run_filter(fallback, _nr(name)) == EPERM
    assert run_filter(fallback, _nr("ptrace")) == EPERM
