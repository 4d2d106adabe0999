"""The on-disk result cache: unwritable folders, stale temporary files, permissions (issue 14)."""
import os
import stat
import time
import warnings

import pytest

from edgelearn import cache
from edgelearn.cache import CacheNotWritableError, CacheWarning, DiskCache


def _unwritable(tmp_path):
    """A cache folder that cannot be created, even by root: its parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    return blocker / "cache"


def test_check_writable_names_the_folder_and_the_way_out(tmp_path):
    folder = _unwritable(tmp_path)
    with pytest.raises(CacheNotWritableError, match=r"blocker/cache.*is not writable.*EDGELEARN_CACHE.*cache=False"):
        cache.check_writable(folder)
    assert cache.check_writable(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert (tmp_path / "new" / "deep").is_dir() and not list((tmp_path / "new" / "deep").iterdir())


def test_an_unwritable_cache_warns_at_once_and_save_returns_none(tmp_path):
    with pytest.warns(CacheWarning, match="not writable.*cache=False"):
        c = DiskCache(_unwritable(tmp_path))
    assert not c.writable and c.load("k") is None
    with pytest.warns(CacheWarning, match="result not stored"):
        assert c.save("k", b"payload") is None
    with pytest.raises(CacheNotWritableError):
        DiskCache(_unwritable(tmp_path), strict=True)


def test_a_write_that_fails_midway_warns_and_leaves_no_file(tmp_path, monkeypatch):
    c = DiskCache(tmp_path)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.warns(CacheWarning, match="No space left on device"):
        assert c.save("k", b"payload") is None
    assert list((tmp_path / "runs").iterdir()) == []


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    stale, fresh = folder / ".tmp-123-dead.bin", folder / ".tmp-456-live.bin"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"being written")
    old = time.time() - 2 * cache.STALE_SECONDS
    os.utime(stale, (old, old))
    DiskCache(tmp_path)                                    # opening the cache cleans up
    assert not stale.exists() and fresh.exists()


def test_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = DiskCache(tmp_path).save("k", b"payload")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = DiskCache(tmp_path).save("k2", b"payload")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(previous)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_is_detected(tmp_path):
    folder = tmp_path / "ro"
    (folder / "runs").mkdir(parents=True)
    os.chmod(folder / "runs", 0o555)
    try:
        with pytest.raises(CacheNotWritableError, match="not writable"):
            cache.check_writable(folder / "runs")
    finally:
        os.chmod(folder / "runs", 0o755)


def test_training_with_an_unwritable_cache_warns_before_training_and_returns_the_result(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import edgelearn as el
    from edgelearn import train

    s = el.scenarios.mnist()
    plan = el.Plan.uniform(s, 2, 1, D=8, B=4)
    seen = []
    real_train = train._train

    def spy(*a, **k):
        seen.append("train")
        return real_train(*a, **k)

    monkeypatch.setattr(train, "_train", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = train.run(s, plan, "mnist-mnist", cache_dir=_unwritable(tmp_path), progress=False, eval_every=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert seen == ["train"] and len(h.loss) == 3 and not h.cached
    assert any("not writable" in m and "cache=False" in m for m in messages)
    assert any("result not stored" in m for m in messages)
