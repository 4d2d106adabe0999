"""Record the regime maps the book draws: ``python scripts/record_regime_maps.py``.

Executes every chapter that calls ``regime_map`` (found in ``book/*.ipynb``) with
``EDGELEARN_RECORD_REGIMES=1`` and an empty result cache, so each map is solved afresh by
today's code and written to ``results/regimes/<key>.json`` with its provenance
(:mod:`edgelearn.regime`).  Old map files are removed first.  Run it after a change to the solver
(``tests/test_regime_shipped.py`` fails until then); it takes about a minute on two cores.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chapters_with_maps() -> list[Path]:
    return sorted(p for p in (ROOT / "book").glob("*.ipynb") if "regime_map(" in p.read_text())


def main() -> int:
    import nbformat
    from nbclient import NotebookClient
    from tqdm import tqdm

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from edgelearn_site import patch_nbclient_output_widget   # jupyter/nbclient#312: no stall on Output widgets

    from edgelearn.regime import read_shipped, shipped_dir

    patch_nbclient_output_widget()
    out = shipped_dir()
    old = sorted(out.glob("*.json"))
    for f in old:
        f.unlink()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgelearn-regimes-") as cache:
        for path in tqdm(chapters_with_maps(), desc="chapters", unit="notebook"):
            os.environ.update(EDGELEARN_RECORD_REGIMES="1", EDGELEARN_CACHE=cache,
                              EDGELEARN_RECORD_NOTEBOOK=f"book/{path.name}")
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=1200, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
    files = sorted(out.glob("*.json"))
    cells = sum(read_shipped(f)[0].regime.size for f in files)
    print(f"removed {len(old)} map files; wrote {len(files)} ({cells} cells, "
          f"{sum(f.stat().st_size for f in files) / 1e3:.0f} kB) to {out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
