"""A small on-disk result cache: content-addressed, written atomically, checked on read.

A finished training run (or any other costly result) is stored under a key that
hashes everything it depends on.  Each file holds a magic line, the SHA-256 of the
payload and the payload itself; a file whose checksum does not match (a partial
write, a disk error, an older format) is treated as absent and recomputed, never
trusted.  Files are written to a temporary name in the same directory and moved into
place with :func:`os.replace`, so readers never see half a file.  Files get the
permissions of the process umask (a shared cache folder stays readable by others);
temporary files that a killed writer left behind are removed once they are stale.

A folder that cannot be written is detected when the cache is opened (before any
training): :func:`check_writable` raises :class:`CacheNotWritableError`, and
:class:`DiskCache` warns (:class:`CacheWarning`) and keeps working read-only, so a
result computed anyway is returned, with a warning, instead of being lost.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["default_dir", "make_key", "DiskCache", "check_writable", "clean_stale", "CacheNotWritableError",
           "CacheWarning", "STALE_SECONDS"]

_MAGIC = b"EDGELEARN-CACHE-1\n"

#: A temporary file untouched for this long is a leftover of a killed writer (a live write takes seconds).
STALE_SECONDS = 3600.0

_HINT = "set $EDGELEARN_CACHE to a folder you can write, pass cache_dir=..., or pass cache=False"


class CacheNotWritableError(PermissionError):
    """The cache folder cannot be created or written."""


class CacheWarning(UserWarning):
    """A result could not be stored in the cache (it is still returned)."""


def _tmp_name(directory: Path) -> Path:
    return directory / f".tmp-{os.getpid()}-{secrets.token_hex(8)}.bin"


def _open_new(path: Path) -> int:
    # os.open with mode 0o666 lets the kernel apply the process umask (mkstemp would force 0600)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def check_writable(directory) -> Path:
    """Create ``directory`` if needed and check that a file can be written there; return it.

    Raises :class:`CacheNotWritableError` naming the folder, the reason and what to do
    ($EDGELEARN_CACHE, ``cache_dir=``, ``cache=False``).
    """
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = _tmp_name(directory)
        os.close(_open_new(probe))
        os.unlink(probe)
    except OSError as e:
        raise CacheNotWritableError(
            f"cache folder {str(directory)!r} is not writable ({type(e).__name__}: {e.strerror or e}); {_HINT}"
        ) from None
    return directory


def clean_stale(directory, older_than: float = STALE_SECONDS) -> int:
    """Remove ``.tmp-*`` files in ``directory`` not modified for ``older_than`` seconds; return how many."""
    removed, now = 0, time.time()
    try:
        entries = list(Path(directory).glob(".tmp-*"))
    except OSError:
        return 0
    for path in entries:
        try:
            if now - path.stat().st_mtime > older_than:
                path.unlink()
                removed += 1
        except OSError:          # already gone (another process cleaned it) or not ours to remove
            pass
    return removed


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
    """Payloads (bytes) stored as ``<directory>/<namespace>/<key>.bin``.

    Opening it checks that the folder can be written (:func:`check_writable`) and removes
    stale temporary files.  An unwritable folder gives a :class:`CacheWarning` at once;
    the cache then only reads, and :meth:`save` warns and returns None instead of raising.
    ``strict=True`` raises :class:`CacheNotWritableError` instead.
    """

    def __init__(self, directory=None, namespace: str = "runs", *, strict: bool = False):
        self.directory = (default_dir() if directory is None else Path(directory).expanduser()) / namespace
        self.writable = True
        try:
            check_writable(self.directory)
        except CacheNotWritableError as e:
            if strict:
                raise
            self.writable = False
            self._why = str(e)
            warnings.warn(f"{e}. Results will be computed but not stored.", CacheWarning, stacklevel=2)
        else:
            clean_stale(self.directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.bin"

    def load(self, key: str) -> bytes | None:
        """The stored payload, or None when absent, unreadable or corrupt (a corrupt file is removed)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            warnings.warn(f"cache file {str(path)!r} cannot be read ({e.strerror or e}); recomputing", CacheWarning,
                          stacklevel=2)
            return None
        head = len(_MAGIC) + 65
        payload = blob[head:]
        if (not blob.startswith(_MAGIC) or len(blob) < head
                or blob[len(_MAGIC):head - 1] != hashlib.sha256(payload).hexdigest().encode()):
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return payload

    def save(self, key: str, payload: bytes) -> Path | None:
        """Write atomically: a temporary file in the same directory, then :func:`os.replace`.

        Returns the path, or None with a :class:`CacheWarning` when the file cannot be
        written (the caller keeps its result).
        """
        if not self.writable:
            warnings.warn(f"result not stored: {self._why}", CacheWarning, stacklevel=2)
            return None
        digest = hashlib.sha256(payload).hexdigest().encode()
        tmp = _tmp_name(self.directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = _open_new(tmp)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_MAGIC + digest + b"\n" + payload)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path(key))
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as e:
            warnings.warn(f"result not stored: cache file {str(self.path(key))!r} cannot be written "
                          f"({type(e).__name__}: {e.strerror or e}); {_HINT}", CacheWarning, stacklevel=2)
            return None
        return self.path(key)

    def __repr__(self):
        return f"DiskCache({str(self.directory)!r})"
