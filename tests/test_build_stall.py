"""The book build does not stall on ipywidgets ``Output`` widgets (jupyter/nbclient#312).

A small Sphinx project with the book's execution path (myst-nb in ``cache`` mode -> jupyter-cache
-> nbclient, with the book's extension ``book/_ext/edgelearn_site.py`` loaded) executes a notebook
of many cells that each print into an ``Output`` widget.  Without the extension's patch such a
notebook stalls for a whole per-cell timeout on most runs (nbclient's Output-widget stand-in
swallows the wake-up of the ``execute_reply``); the test sets that timeout to ``CELL_TIMEOUT`` and
fails when the notebook's execution takes that long, i.e. on any stall.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 30          # seconds: one stall costs this much; the healthy notebook needs a few
N_CELLS = 40


def _notebook(title: str = "Output widgets") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}"))
    nb.cells.append(nbformat.v4.new_code_cell(f"import ipywidgets as widgets\nfrom IPython.display import display\n"
                                              f"title = {title!r}"))
    for i in range(N_CELLS):
        nb.cells.append(nbformat.v4.new_code_cell(
            f"out = widgets.Output()\ndisplay(out)\nwith out:\n    print('cell {i}')"))
    return nb


@pytest.mark.timeout(900)
@pytest.mark.parametrize("jobs", [1, 2], ids=["myst-nb executes", "the extension's parallel workers execute"])
def test_output_widget_notebook_builds_without_stall(tmp_path, jobs, monkeypatch):
    """Both paths of the build: myst-nb's own serial execution (one job) and the extension's
    parallel execution (two notebooks, two jobs)."""
    monkeypatch.setenv("EDGELEARN_BUILD_JOBS", str(jobs))
    src = tmp_path / "src"
    src.mkdir()
    names = ["widgets"] if jobs == 1 else ["widgets", "widgets_2"]
    for name in names:
        nbformat.write(_notebook(name), src / f"{name}.ipynb")
    (src / "index.md").write_text("# Stall check\n\n```{toctree}\n" + "\n".join(names) + "\n```\n")
    (src / "conf.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})
        project = "stall check"
        extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "edgelearn_site"]
        nb_execution_mode = "cache"
        nb_execution_cache_path = {str(tmp_path / 'jupyter_cache')!r}
        nb_execution_timeout = {CELL_TIMEOUT}
        nb_execution_raise_on_error = True
        nb_ipywidgets_js = {{}}
        exclude_patterns = ["_build"]
    """))
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(tmp_path / "html")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=N_CELLS * CELL_TIMEOUT)
    assert res.returncode == 0, f"the build failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"

    from jupyter_cache import get_cache
    records = get_cache(str(tmp_path / "jupyter_cache")).list_cache_records()
    assert len(records) == len(names), f"expected {len(names)} executed notebooks in the cache, found {len(records)}"
    parallel = [rec.data.get("executed_by") == "edgelearn_site parallel" for rec in records]
    assert all(parallel) if jobs > 1 else not any(parallel), f"executed by: {[r.data for r in records]}"
    for rec in records:
        seconds = rec.data["execution_seconds"]
        assert seconds < CELL_TIMEOUT, (
            f"the {N_CELLS}-cell Output-widget notebook took {seconds:.0f} s to execute, at least one "
            f"per-cell timeout ({CELL_TIMEOUT} s): the nbclient stall (jupyter/nbclient#312) is back")

    # The widgets did capture their output (the patched send still syncs state to the kernel).
    from jupyter_cache.cache.main import JupyterCacheBase
    cache = JupyterCacheBase(str(tmp_path / "jupyter_cache"))
    for rec in records:
        nb = cache.get_cache_bundle(rec.pk).nb
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        printed = sorted(o["text"] for m in state.values() if m["model_name"] == "OutputModel"
                         for o in m["state"].get("outputs", []) if o.get("output_type") == "stream")
        assert printed == sorted(f"cell {i}\n" for i in range(N_CELLS)), json.dumps(printed)[:400]
