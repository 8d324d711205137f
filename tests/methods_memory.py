"""A hostile method for tests/test_sandbox.py that scans its own process's memory when its module is imported
(about 0.3 s). It lives alone because the sandbox imports a method's module afresh for every fold: beside the
other attacks, every fold of every one of them would pay for the scan."""

from __future__ import annotations

import os

from peppp_bench import Oracle, Task
from tests.methods_broken import Cheapest

LEFT = b"PEPPP-LEFT-"


def _own_memory_holds(marker: bytes) -> list[bytes]:
    """Every string starting with `marker` in this process's writable anonymous memory (read through
    /proc/self/mem, which the kernel opens to the process itself)."""
    found = []
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as mem:
        for line in maps:
            parts = line.split()
            if "rw" not in parts[1] or len(parts) > 5 and parts[5].startswith("/"):
                continue
            low, high = (int(x, 16) for x in parts[0].split("-"))
            try:
                mem.seek(low)
                data = mem.read(high - low)
            except (OSError, OverflowError):
                continue
            at = data.find(marker)
            while at >= 0:
                found.append(data[at : at + 64].split(b"\0")[0])
                at = data.find(marker, at + 1)
    return found


def _names_key(task: Task) -> bytes:
    return b"%d-" % int(task.test_memory.sum())


class LeavesNamesForLaterFolds(Cheapest):
    """At the smallest budget, leaves 2,000 files whose names hold what it measured; at the next, looks for
    those names in its own memory, where a zygote that removed them after the fold would have left them."""

    name = "leaves-names"
    FOUND = _own_memory_holds(LEFT)  # at import, before the method's own allocations overwrite much

    def select(self, task: Task, oracle: Oracle) -> None:
        import tempfile

        mine = [
            f for f in LeavesNamesForLaterFolds.FOUND + _own_memory_holds(LEFT) if f[11:].startswith(_names_key(task))
        ]
        if mine:
            raise RuntimeError(f"found what an earlier fold measured: {mine[0]!r}")
        super().select(task, oracle)
        if task.budget == 2:
            m = oracle.measured[0]
            for k in range(2000):
                name = LEFT + _names_key(task) + b"%d=%.6f-%d" % (m.config, m.error, k)
                open(os.path.join(tempfile.gettempdir(), name.decode()), "w").close()
