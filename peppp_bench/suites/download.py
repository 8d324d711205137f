"""The authors' released arrays, for a user who has only this package: downloaded from their public
repository at a pinned commit and checked against the pinned sha256 before anything is built.

The arrays are plain `.npy` files, read with `allow_pickle=False`. No licence file accompanies them
upstream. They land in the cache (`$PEPPP_BENCH_CACHE`, else huggingface_hub's) beside the suites
built from them, which `load` then finds with no Hub.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from ..files import atomic_write
from .build import UPSTREAM_BYTES, UPSTREAM_SHA256, UpstreamError
from .hub import package_cache_dir

UPSTREAM_REPOSITORY = "barterer/lp"
UPSTREAM_COMMIT = "53c02f5d87823cca414c487d0f4e93b56761dacd"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"  # override with $PEPPP_BENCH_UPSTREAM_URL (a mirror)


def upstream_url(name: str, base_url: str | None = None) -> str:
    base = (base_url or os.environ.get("PEPPP_BENCH_UPSTREAM_URL") or DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/{UPSTREAM_REPOSITORY}/{UPSTREAM_COMMIT}/data/{name}"


def upstream_cache() -> Path:
    """Where downloaded arrays are kept: one folder per pinned commit."""
    return Path(package_cache_dir()) / "upstream" / UPSTREAM_COMMIT


def built_cache() -> Path:
    """Where suites built from downloaded arrays are kept; `load` looks here after the bundled suites."""
    return Path(package_cache_dir()) / "built"


def download_upstream(
    files: Iterable[str],
    dest: Path | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    deadline: float = 600.0,
    progress: bool = False,
) -> Path:
    """Download `files` into `dest` (default: the cache), each refused unless its sha256 is the pinned one.

    Each file is streamed with its pinned size as a hard cap and must arrive within `deadline` seconds
    (`timeout` bounds each read), so a hostile mirror can neither exhaust memory nor hang the download.
    A file already there with the right sha256 is not fetched again; a failed or refused download
    leaves nothing behind, not even the folders it made. `progress` shows a bar over the files."""
    from tqdm.auto import tqdm

    files = list(files)
    dest = Path(dest) if dest is not None else upstream_cache()
    made = [p for p in (dest, *dest.parents) if not p.exists()]
    dest.mkdir(parents=True, exist_ok=True)
    bar = tqdm(files, desc="released arrays", unit="file", disable=not progress)
    try:
        for name in bar:
            if name not in UPSTREAM_SHA256:
                raise UpstreamError(f"{name} is not one of the released arrays: {', '.join(UPSTREAM_SHA256)}")
            target = dest / name
            if target.is_file() and _sha256(target.read_bytes()) == UPSTREAM_SHA256[name]:
                continue
            url = upstream_url(name, base_url)
            data = _fetch(url, UPSTREAM_BYTES[name], timeout, deadline)
            digest = _sha256(data)
            if digest != UPSTREAM_SHA256[name]:
                raise UpstreamError(
                    f"{url} has sha256 {digest}, not the pinned {UPSTREAM_SHA256[name]}: refused, nothing "
                    "was built (the file changed upstream or in transit)"
                )
            atomic_write(target, data)
    except BaseException:
        for folder in made:  # innermost first; only the empty folders this call made
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    finally:
        bar.close()
    return dest


def build_into_cache(name: str, progress: bool = False) -> Path:
    """Suite `name` ("paper" or "paper-lr") built from the pinned download into the cache, where `load` finds
    it; the arrays already in the cache are not fetched again."""
    from .build import BUILDERS, UPSTREAM_FILES

    upstream = download_upstream(UPSTREAM_FILES[name], progress=progress)
    return BUILDERS[name](upstream, built_cache() / name)


def _fetch(url: str, size: int, timeout: float, deadline: float) -> bytes:
    """The body at `url`, refused past `size` bytes or `deadline` seconds."""
    ends = time.monotonic() + deadline
    chunks: list[bytes] = []
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while True:
                if time.monotonic() > ends:
                    raise UpstreamError(f"{url}: not downloaded within {deadline:g} s: refused")
                chunk = response.read1(1 << 16)
                if not chunk:
                    return b"".join(chunks)
                got += len(chunk)
                if got > size:
                    raise UpstreamError(f"{url} is larger than the released file ({size} bytes): refused")
                chunks.append(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise UpstreamError(
            f"could not download {url} ({exc}); check the network, or pass --upstream DIR with the released arrays"
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
