"""Helpers shared by both test layers: real source lines and reduced or corrupted
copies of them in temporary folders (the real data is never copied into the repo)."""

from __future__ import annotations

import gzip
from pathlib import Path


def read_lines(path: Path, limit: int | None = None) -> list[bytes]:
    with gzip.open(path, "rb") as handle:
        lines = handle.read().splitlines()
    return lines[:limit] if limit else lines


def write_gz(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    return path
