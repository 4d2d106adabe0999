"""The book's Sphinx extension (book/_ext/edgelearn_site.py), piece by piece, without a build."""
from __future__ import annotations

import base64
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import edgelearn_site as ext  # noqa: E402

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_lighten_page_moves_frames_to_files_and_drops_widget_state(tmp_path):
    out = tmp_path / "html"
    page = out / "book" / "chapter.html"
    page.parent.mkdir(parents=True)
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    page.write_text(f'<img src="{uri}"><script>var P=["{uri}","{uri}"];</script>'
                    '<script type="application/vnd.jupyter.widget-state+json">{"state": {}}</script>')
    before, after = ext.lighten_page(page, out, strip_widget_state=True)
    text = page.read_text()
    assert "data:image" not in text and "widget-state" not in text and after < before
    files = list((out / "_images" / "frames").glob("*.png"))
    assert len(files) == 1 and files[0].read_bytes() == PNG          # one file for the three copies
    assert text.count(f"../_images/frames/{files[0].name}") == 3      # relative to the page
    assert oct(page.stat().st_mode & 0o777) == "0o644"
    assert ext.lighten_page(page, out, strip_widget_state=True) == (after, after)   # idempotent


def _config(url, **extra):
    opts = {"repository_url": url, "use_repository_button": False, "use_download_button": True,
            "launch_buttons": {"binderhub_url": "https://mybinder.org",
                               "colab_url": "https://colab.research.google.com", "thebe": False}}
    opts.update(extra)
    return SimpleNamespace(html_theme_options=opts)


def test_no_repository_means_no_launch_or_repository_button():
    config = _config("", use_repository_button=True)
    ext._buttons_follow_repository(config)
    opts = config.html_theme_options
    assert not opts["use_repository_button"] and opts["use_download_button"]
    assert not any(opts["launch_buttons"][k] for k in ext.LAUNCH_KEYS)


def test_a_real_repository_turns_the_buttons_on():
    config = _config("https://example.org/owner/book")
    ext._buttons_follow_repository(config)
    opts = config.html_theme_options
    assert opts["use_repository_button"]
    assert opts["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_bibliography_labels_are_author_year():
    pytest.importorskip("pybtex")
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin

    ext._register_bibliography_style()
    bib = parse_string(r"""
        @article{a, author={Lyu, Z. and Li, Y. and Zhu, G.}, title={T}, journal={J}, year={2024}}
        @article{b, author={Mo, X. and Xu, J.}, title={T}, journal={J}, year={2021}}
        @article{c, author={B{\"o}hning, D.}, title={T}, journal={J}, year={1992}}
        @article{d, author={Boyd, S. and Diamond, S. and Agrawal, A.}, title={A}, journal={J}, year={2016}}
        @article{e, author={Boyd, S. and Grant, M. and Agrawal, A.}, title={B}, journal={J}, year={2016}}
    """, "bibtex")
    style = find_plugin("pybtex.style.formatting", "edgelearn")()
    labels = {e.key: e.label for e in style.format_entries(bib.entries.values())}
    assert labels["a"] == "Lyu et al., 2024"
    assert labels["b"] == "Mo and Xu, 2021"
    assert labels["c"] == "Böhning, 1992"
    assert sorted([labels["d"], labels["e"]]) == ["Boyd et al., 2016a", "Boyd et al., 2016b"]


def test_mathjax_parts_exist_and_leave_out_the_speech_engine():
    es5 = ext.mathjax_source()
    for part in ext.PARTS:
        assert (es5 / part).exists(), part
    assert not any(part.startswith(("sre", "a11y")) for part in ext.PARTS)


def test_the_api_page_documents_every_module():
    """Each module of the package has an ``automodule`` on the API page (book/api.md)."""
    api = (ROOT / "book" / "api.md").read_text()
    pkg = ROOT / "edgelearn"
    modules = sorted(".".join(("edgelearn",) + p.relative_to(pkg).with_suffix("").parts).replace(".__init__", "")
                     for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    public = [m for m in modules if m != "edgelearn" and not any(part.startswith("_") for part in m.split("."))]
    missing = [m for m in public if f".. automodule:: {m}\n" not in api]
    assert not missing, f"book/api.md does not document: {missing}"


def test_the_palette_gives_each_scheme_its_own_colour_and_readable_legends():
    import matplotlib as mpl

    from edgelearn import plots
    colours = [plots.SCHEME_COLORS[s] for s in (*plots.SCHEMES, "two_stage")]
    assert len(set(colours)) == len(colours), "two schemes share a colour"
    assert plots.SCHEME_COLORS["two_stage"] not in plots.STAGE_COLORS.values()
    assert plots.SCHEME_COLORS["two_stage"] == plots.REGIME_COLORS["two_stage"]
    assert set(plots.SCHEME_LABELS) == set(plots.SCHEME_COLORS)
    with mpl.rc_context():
        plots.use_book_style()
        assert mpl.rcParams["legend.fontsize"] >= 9
    with pytest.raises(ValueError, match="scheme must be one of"):
        plots.scheme_style("best")


def test_parallel_execution_starts_the_slowest_notebooks_first():
    """The build's parallel executor orders its notebooks: the listed slow ones first, in their
    order, then every other notebook (none is dropped)."""
    names = ["notation", "deployment", "reformulation", "algorithm", "two_stages", "new_chapter"]
    paths = sorted((Path("book") / f"{n}.ipynb" for n in names), key=ext._slowest_first)
    assert [p.stem for p in paths] == ["algorithm", "two_stages", "deployment", "new_chapter", "notation",
                                       "reformulation"]
