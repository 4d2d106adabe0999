"""A small on-disk result cache: content-addressed, written atomically, checked on read.

A finished training run (or any other costly result) is stored under a key that
hashes everything it depends on.  Each file holds a magic line, the SHA-256 of the
payload and the payload itself; a file whose checksum does not match (a partial
write, a disk error, an older format) is treated as absent and recomputed, never
trusted.  Files are written to a temporary name in the same directory and moved into
place with :func:`os.replace`, so readers never see half a file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["default_dir", "make_key", "DiskCache"]

_MAGIC = b"EDGELEARN-CACHE-1\n"


def default_dir() -> Path:
    """``$EDGELEARN_CACHE`` if set, else ``~/.cache/edgelearn``."""
    return Path(os.environ.get("EDGELEARN_CACHE", Path.home() / ".cache" / "edgelearn")).expanduser()


def _plain(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"cannot hash a {type(obj).__name__} into a cache key")


def make_key(*parts) -> str:
    """SHA-256 (hex) of a JSON rendering of ``parts`` (numbers, strings, lists, dicts, arrays)."""
    text = json.dumps(parts, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class DiskCache:
    """Payloads (bytes) stored as ``<directory>/<namespace>/<key>.bin``."""

    def __init__(self, directory=None, namespace: str = "runs"):
        self.directory = (default_dir() if directory is None else Path(directory).expanduser()) / namespace

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.bin"

    def load(self, key: str) -> bytes | None:
        """The stored payload, or None when absent or corrupt (a corrupt file is removed)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        head = len(_MAGIC) + 65
        payload = blob[head:]
        if (not blob.startswith(_MAGIC) or len(blob) < head
                or blob[len(_MAGIC):head - 1] != hashlib.sha256(payload).hexdigest().encode()):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            return None
        return payload

    def save(self, key: str, payload: bytes) -> Path:
        """Write atomically: a temporary file in the same directory, then :func:`os.replace`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(payload).hexdigest().encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + digest + b"\n" + payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return self.path(key)

    def __repr__(self):
        return f"DiskCache({str(self.directory)!r})"
