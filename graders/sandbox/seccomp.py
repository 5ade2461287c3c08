"""The seccomp filters of the sandboxes, as classic-BPF programs (bytes). Building them is pure data;
loading one happens in the worker's process: bwrap loads `bwrap_program` (--seccomp FD), the zygote's
children and the uid launcher's boot load theirs with graders/worker/isolate.py's `load_seccomp`.

Memory that rlimits do not see: RLIMIT_DATA counts private memory only. Shared anonymous memory
(mmap(-1, n) with MAP_SHARED), memfd_create and System V shared memory are shmem: uncounted, unbounded
by the tmpfs sizes of the sandbox. Both filters refuse exactly those (EPERM); file-backed shared
mappings (/dev/shm, bounded by its tmpfs size) still work, so multiprocessing and DataLoader workers do too.
"""

from __future__ import annotations

import errno
import os
import struct
import sys

_ARCHES = {  # machine -> (AUDIT_ARCH, mmap, memfd_create, shmget, socket)
    "x86_64": (0xC000003E, 9, 319, 29, 41),
    "aarch64": (0xC00000B7, 222, 279, 194, 198),
}
_MAP_SHARED_ANON = 0x01 | 0x20  # MAP_SHARED | MAP_ANONYMOUS (MAP_SHARED_VALIDATE has bit 0x01 too)
_AF_UNIX = 1
# Refused outright (EPERM) in every sandbox, because no course needs them:
# - kernel keyrings (add_key, request_key, keyctl): keyrings are per user, not per namespace; a worker
#   that is uid 0 on the host (the zygote's children when the grader runs as root) would share root's
#   user keyring with the host and with every other submission (a channel between students);
# - ptrace, process_vm_readv/writev: the sandbox's PID 1 (bubblewrap's init) runs without this filter;
#   a worker that traced it could make it allocate the memory this filter refuses.
DENIED_SYSCALLS = {  # machine -> numbers
    "x86_64": (248, 249, 250, 101, 310, 311),
    "aarch64": (217, 218, 219, 117, 270, 271),
}
KEYRING_SYSCALLS = {m: nrs[:3] for m, nrs in DENIED_SYSCALLS.items()}
_LD, _JEQ, _JGE, _AND, _RET = 0x20, 0x15, 0x35, 0x54, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | errno.EPERM


def _machine() -> str | None:
    machine = os.uname().machine
    if machine not in _ARCHES or sys.byteorder != "little":  # the offsets below assume little endian
        return None
    return machine


def bwrap_program() -> bytes | None:
    """The bubblewrap sandbox's filter (and the zygote's children's), or None on an architecture we have no table for."""
    machine = _machine()
    if machine is None:
        return None
    arch, nr_mmap, nr_memfd, nr_shmget, _nr_socket = _ARCHES[machine]
    x32 = 0x40000000 if machine == "x86_64" else 0xFFFFFFFF
    denied = (nr_memfd, nr_shmget, *DENIED_SYSCALLS[machine])
    n = len(denied)
    # layout: 0 arch, 1 native?, 2 deny other ABIs, 3 load nr, 4 x32?, 5..4+n denied numbers, then mmap's test
    mmap_at = 5 + n
    deny_at = mmap_at + 5
    prog = [
        (_LD, 0, 0, 4),                   # A = arch
        (_JEQ, 1, 0, arch),               # native -> 3
        (_RET, 0, 0, _EPERM),             # another ABI (i386, x32 tricks): nothing
        (_LD, 0, 0, 0),                   # A = syscall number
        (_JGE, deny_at - 5, 0, x32),      # x32 numbers -> deny
    ]
    for i, nr in enumerate(denied):
        at = 5 + i
        prog.append((_JEQ, deny_at - at - 1, 0, nr))
    prog += [
        (_JEQ, 0, 3, nr_mmap),            # mmap -> next, else allow
        (_LD, 0, 0, 16 + 3 * 8),          # A = low word of flags (args[3])
        (_AND, 0, 0, _MAP_SHARED_ANON),
        (_JEQ, 1, 0, _MAP_SHARED_ANON),   # shared and anonymous -> deny
        (_RET, 0, 0, _ALLOW),
        (_RET, 0, 0, _EPERM),
    ]
    assert len(prog) == deny_at + 1
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def uid_program() -> bytes:
    """The uid sandbox's filter: refuse uncounted shared memory (as the bubblewrap sandbox does) and every
    socket family but AF_UNIX; b'' on an architecture without a table (then there is no filter)."""
    machine = _machine()
    if machine is None:
        return b""
    arch, nr_mmap, nr_memfd, nr_shmget, nr_socket = _ARCHES[machine]
    noaf = 0x00050000 | errno.EAFNOSUPPORT
    x32 = 0x40000000 if machine == "x86_64" else 0xFFFFFFFF
    # (code, jt label, jf label, k); labels are resolved to relative jumps below
    prog: list[tuple[int | str, object, object, int]] = [
        (_LD, 0, 0, 4),                          # A = arch
        (_JEQ, "nr", "deny", arch),
        ("nr", None, None, 0),
        (_LD, 0, 0, 0),                          # A = syscall number
        (_JGE, "deny", 0, x32),
        (_JEQ, "deny", 0, nr_memfd),
        (_JEQ, "deny", 0, nr_shmget),
        *[(_JEQ, "deny", 0, nr) for nr in DENIED_SYSCALLS[machine]],  # keyrings, ptrace
        (_JEQ, "socket", 0, nr_socket),
        (_JEQ, "mmap", "allow", nr_mmap),
        ("mmap", None, None, 0),
        (_LD, 0, 0, 16 + 3 * 8),                 # A = low word of mmap's flags
        (_AND, 0, 0, _MAP_SHARED_ANON),
        (_JEQ, "deny", "allow", _MAP_SHARED_ANON),
        ("socket", None, None, 0),
        (_LD, 0, 0, 16),                         # A = socket's family
        (_JEQ, "allow", "noaf", _AF_UNIX),
        ("allow", None, None, 0),
        (_RET, 0, 0, _ALLOW),
        ("deny", None, None, 0),
        (_RET, 0, 0, _EPERM),
        ("noaf", None, None, 0),
        (_RET, 0, 0, noaf),
    ]
    labels: dict[str, int] = {}
    real: list[tuple[int | str, object, object, int]] = []
    for ins in prog:
        if isinstance(ins[0], str):
            labels[ins[0]] = len(real)
        else:
            real.append(ins)

    def off(target: object, at: int) -> int:
        return labels[target] - at - 1 if isinstance(target, str) else int(target)  # type: ignore[call-overload]

    return b"".join(struct.pack("=HBBI", code, off(jt, i), off(jf, i), k) for i, (code, jt, jf, k) in enumerate(real))  # type: ignore[arg-type]
