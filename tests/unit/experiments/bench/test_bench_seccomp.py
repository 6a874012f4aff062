"""The seccomp program's layout: every jump lands inside the program and on a return."""

from __future__ import annotations

import struct

from experiments.bench._seccomp import DENIED_SYSCALLS_X86_64, UNACCOUNTED_MEMORY_SYSCALLS_X86_64, build_seccomp_filter

RET_K = 0x06
JMP_CLASS = 0x05


def _decode(prog: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]


def test_no_filter_for_unknown_architectures() -> None:
    assert build_seccomp_filter("riscv64") is None


def test_denied_syscalls_jump_to_the_eperm_return() -> None:
    prog = build_seccomp_filter("x86_64")
    assert prog is not None and len(prog) % 8 == 0
    insns = _decode(prog)
    assert len(insns) <= 4096  # BPF_MAXINSNS
    deny = insns[-1]
    assert deny == (RET_K, 0, 0, 0x00050000 | 1)  # SECCOMP_RET_ERRNO | EPERM
    for index, (code, jt, jf, k) in enumerate(insns):
        if code & 0x07 == JMP_CLASS:
            for target in (index + 1 + jt, index + 1 + jf):
                assert target < len(insns)
            if k in DENIED_SYSCALLS_X86_64.values():
                assert index + 1 + jt == len(insns) - 1
    assert insns[-2] == (RET_K, 0, 0, 0x7FFF0000)  # AF_UNIX sockets are allowed
    # ptrace, unshare, mount and bpf are among the denied calls
    assert {101, 272, 165, 321} <= set(DENIED_SYSCALLS_X86_64.values())


def _denied(prog: bytes) -> set[int]:
    insns = _decode(prog)
    deny_at = len(insns) - 1
    return {k for i, (code, jt, _jf, k) in enumerate(insns) if code == 0x15 and i + 1 + jt == deny_at}


def test_memfd_and_sysv_shm_denied_only_without_a_memory_cgroup() -> None:
    """Issue 13: 870 MB of memfds escaped RLIMIT_AS; without a cgroup to charge them, refuse them."""
    plain = build_seccomp_filter("x86_64")
    fallback = build_seccomp_filter("x86_64", deny_unaccounted_memory=True)
    assert plain is not None and fallback is not None
    extra = set(UNACCOUNTED_MEMORY_SYSCALLS_X86_64.values())
    assert extra == {319, 29}  # memfd_create, shmget
    assert not extra & _denied(plain)
    assert _denied(fallback) == _denied(plain) | extra
