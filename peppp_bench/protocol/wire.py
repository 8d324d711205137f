"""The wire between the harness and a method's process: length-prefixed frames with deadlines.

The harness sends pickles (the method's process trusts the harness); the method's process sends JSON,
which the harness parses with limits on size and depth (it trusts nothing from it).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

FRAME = struct.Struct("<Q")
MAX_MESSAGE = 1 << 20  # a message from a method larger than this breaks the harness protocol
MAX_DEPTH = 8  # nor may one nest deeper (the protocol's messages nest at most 3 deep)
REASON_CHARS = 300  # a failure reason from a method is cut to this length


def write(stream: Any, payload: bytes) -> None:
    stream.write(FRAME.pack(len(payload)) + payload)
    stream.flush()


def read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read(fd: int, deadline: float | None = None, limit: int | None = MAX_MESSAGE) -> bytes:
    """One frame; a method's messages may not exceed `limit` (the harness's own, a unit's tasks, have none)."""
    (size,) = FRAME.unpack(read_exact(fd, FRAME.size, deadline))
    if limit is not None and size > limit:
        raise ValueError(f"a message of {size} bytes")
    return read_exact(fd, size, deadline)


def reason(text: Any, limit: int = REASON_CHARS) -> str:
    """A failure reason from a method, as a string of at most `limit` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_message(raw: bytes) -> list[Any]:
    """A child's message: a JSON list starting with a string, nested at most MAX_DEPTH deep."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"a message nested deeper than {MAX_DEPTH}")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    msg = json.loads(raw)
    if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
        raise ValueError("a message that is not a list starting with its kind")
    return msg


def write_by(stream: Any, payload: bytes, deadline: float) -> None:
    """Write a frame to the child without ever blocking past `deadline` (a child that stops reading times out)."""
    fd = stream.fileno()
    os.set_blocking(fd, False)
    data = memoryview(FRAME.pack(len(payload)) + payload)
    while data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError
        try:
            data = data[os.write(fd, data[: 1 << 16]) :]
        except BlockingIOError:
            continue
