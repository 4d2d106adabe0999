"""Time a cold and a warm build of the book (the README's build command).

    .venv/bin/python benchmarks/build.py              # builds into a temporary folder
    .venv/bin/python benchmarks/build.py --in-place   # rm -rf _build, then builds into ./_build
    .venv/bin/python benchmarks/build.py --fresh-results   # also an empty edgelearn result cache

Cold: empty output folder and empty execution cache, so every notebook runs.  The notebooks'
own on-disk result cache (``$EDGELEARN_CACHE``, default ``~/.cache/edgelearn``) is kept unless
``--fresh-results`` points it at an empty folder for both builds.  Warm: the same
command again with nothing changed (notebooks come from the cache).  Goals (issue 6): cold under
20 minutes, warm under 1 minute on the project's 2-core machine; (issue 12) no page over 800 kB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(output: Path | None) -> float:
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
    if output is not None:
        cmd += ["--path-output", str(output)]
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if res.returncode:
        sys.exit(f"build failed after {elapsed:.0f} s:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    return elapsed


def notebook_times(cache_dir: Path) -> dict[str, float]:
    """Seconds each notebook took to execute in the build that filled ``cache_dir``."""
    from jupyter_cache import get_cache
    cache = get_cache(str(cache_dir))
    times = {}
    for rec in cache.list_project_records():
        try:
            times[Path(rec.uri).name] = float(cache.get_cached_project_nb(rec.uri).data["execution_seconds"])
        except (KeyError, TypeError, AttributeError):
            continue
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in-place", action="store_true", help="build into ./_build (deleted first)")
    ap.add_argument("--fresh-results", action="store_true",
                    help="run with an empty edgelearn result cache ($EDGELEARN_CACHE)")
    args = ap.parse_args()
    if args.fresh_results:
        os.environ["EDGELEARN_CACHE"] = tempfile.mkdtemp(prefix="edgelearn-results-")
        print(f"result cache: {os.environ['EDGELEARN_CACHE']} (empty)")
    if args.in_place:
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
        shutil.rmtree(ROOT / ".jupyter_cache", ignore_errors=True)
        output, where = None, ROOT / "_build"
    else:
        output = Path(tempfile.mkdtemp(prefix="edgelearn-build-"))
        where = output / "_build"
    cold = build(output)
    cache_dir = (ROOT / "_build" if output is None else output / "_build") / ".jupyter_cache"
    executed = notebook_times(cache_dir)
    warm = build(output)
    html = where / "html"
    pages = sorted(html.rglob("*.html"))
    print(f"output: {html}")
    print(f"pages: {len(pages)}; sizes (kB, goal <= 800 each):")
    for p in sorted(pages, key=lambda p: -p.stat().st_size):
        print(f"  {p.stat().st_size / 1e3:8.1f}  {p.relative_to(html).as_posix()}")
    total = sum(f.stat().st_size for f in html.rglob("*") if f.is_file())
    mathjax = sum(f.stat().st_size for f in (html / "_static" / "mathjax").rglob("*") if f.is_file())
    print(f"site: {total / 1e6:.1f} MB, of which local MathJax {mathjax / 1e6:.1f} MB")
    print("notebooks executed in the cold build (s):")
    for name, sec in sorted(executed.items(), key=lambda kv: -kv[1]):
        print(f"  {sec:7.1f}  {name}")
    print(f"cold build (empty cache): {cold:7.1f} s   goal < 1200 s")
    print(f"warm build (no change):   {warm:7.1f} s   goal < 60 s")


if __name__ == "__main__":
    main()
