"""What every generated artifact records about where it came from: versions, git sha, machine."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "peppp-bench",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "cvxpy-base",
    "clarabel",
    "torch",
    "qtorch",
)


def git_sha() -> str:
    """The checkout's commit (with '-dirty' for uncommitted changes), or 'unknown' outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    """The processor, as precisely as the OS names it (vendor, family, model, stepping and name on Linux)."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines()[:30] if ":" in line)
    except OSError:
        return platform.processor() or platform.machine()
    info = {k.strip(): v.strip() for k, v in info.items()}
    fields = ("vendor_id", "cpu family", "model", "stepping", "model name")
    return " ".join(f"{k.replace(' ', '_')}={info[k]}" for k in fields if k in info) or platform.machine()


def environment() -> dict[str, object]:
    return {
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
