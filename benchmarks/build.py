"""Time a cold and a warm build of the book (the README's build command).

    .venv/bin/python benchmarks/build.py              # builds into a temporary folder
    .venv/bin/python benchmarks/build.py --in-place   # rm -rf _build, then builds into ./_build
    .venv/bin/python benchmarks/build.py --fresh-results   # also an empty edgelearn result cache

Cold: empty output folder and empty execution cache, so every notebook runs.  The notebooks'
own on-disk result cache (``$EDGELEARN_CACHE``, default ``~/.cache/edgelearn``) is kept unless
``--fresh-results`` points it at an empty folder for both builds.  Warm: the same
command again with nothing changed (notebooks come from the cache).  Goals (issue 6): cold under
20 minutes, warm under 1 minute on the project's 2-core machine.
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
    warm = build(output)
    pages = sorted(p.relative_to(where / "html").as_posix() for p in (where / "html" / "book").glob("*.html"))
    print(f"output: {where / 'html'}")
    print(f"pages: {len(pages)}: {', '.join(pages)}")
    print(f"cold build (empty cache): {cold:7.1f} s   goal < 1200 s")
    print(f"warm build (no change):   {warm:7.1f} s   goal < 60 s")


if __name__ == "__main__":
    main()
