"""Results that ship with the repository (``results/``): where they live, how they are written, and
the provenance each carries.

Training runs (:mod:`edgelearn.experiments`), the recorded Flower run
(:mod:`edgelearn.flower.record`) and the book's regime maps (:mod:`edgelearn.regime`) are produced by
a command, written atomically and read back by the book, which never recomputes them.
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["results_dir", "atomic_write", "provenance"]

_ROOT = Path(__file__).resolve().parents[1]


def results_dir() -> Path:
    """``$EDGELEARN_RESULTS``, else the ``results/`` folder of the repository edgelearn lives in."""
    env = os.environ.get("EDGELEARN_RESULTS")
    return Path(env).expanduser() if env else _ROOT / "results"


def atomic_write(path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (a temporary file beside it, then :func:`os.replace`),
    readable by all (0644); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(command: str, **extra) -> dict:
    """Where a shipped result comes from: date (UTC), git commit, whether tracked files outside
    ``results/`` differed from it (``git_dirty``; a recording command may rewrite ``results/``
    first), the ``command``, the Python and numpy versions, the machine, and ``extra``
    (library versions, code hashes)."""
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                git_commit=_git("rev-parse", "HEAD"), git_dirty=bool(dirty), command=command,
                python=platform.python_version(), numpy=np.__version__,
                machine=dict(cpu_count=os.cpu_count(), platform=platform.platform()), **extra)
