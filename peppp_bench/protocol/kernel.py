"""What the kernel enforces on a method's process behind the boundary: no peeking into another process, and
no new processes or kernel objects that outlive it.

`seal_process()` runs in the zygote (trusted code) before any method code: the zygote becomes non-dumpable,
so no other process of the sandbox can open its `/proc/<pid>/mem`, files or descriptors, with `dir_fd` or
otherwise. `forbid_escape()` runs in each forked copy before the method's code is imported: a seccomp filter
refuses, for the rest of that process's life, new processes (threads stay allowed), tracing or reading
another process's memory, new namespaces and mounts, and the kernel objects that outlive a process
(System V IPC, POSIX message queues, keyrings). Neither can be undone by the process it applies to.
"""

from __future__ import annotations

import errno
import platform
import struct
from typing import NamedTuple

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_THREAD = 0x00010000

# seccomp_data: nr at 0, arch at 4, args[0] (its low 32 bits, little-endian) at 16.
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000


class Calls(NamedTuple):
    """One machine's system-call numbers: its audit arch, clone, clone3, the calls that make a process with
    no thread form, and the calls refused outright."""

    arch: int
    clone: int
    clone3: int
    fork: tuple[int, ...]
    refused: tuple[int, ...]


# refused: ptrace, process_vm_readv and _writev, pidfd_getfd, unshare, setns, mount, shmget, semget, msgget,
# mq_open, add_key, request_key, keyctl
_SYSCALLS = {
    "x86_64": Calls(0xC000003E, 56, 435, (57, 58), (101, 310, 311, 438, 272, 308, 165, 29, 64, 68, 240, 248, 249, 250)),
    "aarch64": Calls(0xC00000B7, 220, 435, (), (117, 270, 271, 438, 97, 268, 40, 194, 190, 186, 180, 217, 218, 219)),
}
X32_BIT = 0x40000000  # x86-64's x32 calls: another numbering, refused whole


def _prctl(*args: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(*(ctypes.c_ulong(a) for a in args)) != 0:
        raise OSError(ctypes.get_errno(), f"prctl{args[:2]} failed")


def seal_process() -> None:
    """Make this process non-dumpable: its memory and /proc entries are closed to every other process."""
    _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def seccomp_program(machine: str) -> bytes:
    """The classic-BPF filter for `machine` (`platform.machine()`), as the kernel reads it."""
    calls = _SYSCALLS[machine]
    program: list[tuple[int, int | str, int | str, int]] = []  # (code, jump if true, jump if false, k)

    def op(code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        program.append((code, jt, jf, k))

    op(_LD, 4)
    op(_JEQ, calls.arch, 0, "refuse")  # another architecture's calls: refused whole
    op(_LD, 0)
    if machine == "x86_64":
        op(_JGE, X32_BIT, "refuse", 0)
    for nr in (*calls.fork, *calls.refused):
        op(_JEQ, nr, "refuse", 0)
    op(_JEQ, calls.clone3, "enosys", 0)  # libc then makes its threads with clone
    op(_JEQ, calls.clone, 0, "allow")
    op(_LD, 16)
    op(_JSET, CLONE_THREAD, "allow", "refuse")
    labels = {"refuse": len(program), "allow": len(program) + 1, "enosys": len(program) + 2}
    program += [(_RET, 0, 0, _ERRNO | errno.EPERM), (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ERRNO | errno.ENOSYS)]

    def offset(at: int, to: int | str) -> int:
        return labels[to] - at - 1 if isinstance(to, str) else to

    return b"".join(
        struct.pack("<HBBI", code, offset(i, jt), offset(i, jf), k) for i, (code, jt, jf, k) in enumerate(program)
    )


def forbid_escape() -> None:
    """Install the seccomp filter on this process and everything it may still start (threads only).

    Raises OSError where the kernel or the machine cannot filter system calls; the caller then refuses
    to run the method rather than run it unfiltered."""
    import ctypes

    machine = platform.machine()
    if machine not in _SYSCALLS:
        raise OSError(errno.ENOSYS, f"no system-call filter for {machine} machines")
    code = seccomp_program(machine)

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    program = Program(len(code) // 8, code)
    _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(program), 0, 0)
