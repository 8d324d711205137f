"""Errors shared by the layers (data, protocol, board), so that no layer imports another to raise one."""

from __future__ import annotations


class ProtocolViolation(Exception):
    """A method broke a rule of the protocol (over budget, invalid configuration, bad output, peeking)."""
