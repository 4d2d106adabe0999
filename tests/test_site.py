"""The book as built, and the built website in a real browser (headless Debian chromium).

The book is built ONCE per test session with the README's build command (or ``_build/html`` is
reused when it is newer than every source; ``EDGELEARN_SITE=/path/to/html`` tests another
build).  That build is the test suite's only execution of the notebooks: it executes every
notebook of ``_toc.yml`` (whatever their number) and fails on any error in a cell, and the tests
below check that each notebook was executed successfully, that every notebook of ``book/`` is
in the table of contents, has a kernelspec and well-formed tags, and that no page is heavier
than ``MAX_PAGE_BYTES``.

The browser tests serve the build on 127.0.0.1 and open every page of the navigation: each page
loads, logs no JavaScript error and requests nothing that fails (the site must work offline),
every image has loaded, every equation was typeset by MathJax without an error, no display
equation needs horizontal scrolling at 1280 px and none is cut off at 390 px (a phone: it may
scroll, inside its own box), every kernel-free explorer (``edgelearn.explorers.frame_slider``)
has a caption and shows another frame when one of its sliders moves, and no link or button is
dead (launch buttons appear only when ``repository.url`` is set).  Screenshots of three pages are
saved under ``_build/screenshots/``.

The browser tests need ``/usr/bin/chromium`` (``bash scripts/install.sh --browser``) and the
``playwright`` pip package (no browser download: Playwright drives Debian's chromium).
"""
from __future__ import annotations

import functools
import json
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("EDGELEARN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SOURCES = ["_config.yml", "_toc.yml", "book", "edgelearn"]

MAX_PAGE_BYTES = 800_000          # no HTML page heavier than this (issue 12)
PLACEHOLDER_REPOSITORY = "github.com/edgelearn/edgelearn"     # never existed

# Outside CI a missing browser skips the browser tests; in CI (CI=true) it is a failure, never a skip.
_IN_CI = bool(os.environ.get("CI"))
try:
    import playwright.sync_api as playwright_api
except ImportError:
    if _IN_CI:
        raise
    playwright_api = None
_NO_BROWSER = None if playwright_api is not None and Path(CHROMIUM).exists() else (
    f"{CHROMIUM} or the playwright package missing: run `bash scripts/install.sh --browser`")
needs_browser = pytest.mark.skipif(not _IN_CI and _NO_BROWSER is not None, reason=_NO_BROWSER or "")


# ---------------------------------------------------------------- building and serving
def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        p = ROOT / name
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()
                                            and "__pycache__" not in f.parts
                                            and ".ipynb_checkpoints" not in f.parts]
        newest = max([newest] + [f.stat().st_mtime for f in files])
    return newest


def _build_time(html: Path) -> float:
    marks = [html / ".buildinfo", html / "index.html"]
    return max((m.stat().st_mtime for m in marks if m.exists()), default=0.0)


_BUILD = {}                       # the one build of this session: its command, output and return code


def build_once() -> dict:
    """Build the book once per session (the README's build command), or reuse ``_build/html``
    when it is newer than every source.  A failed build is recorded, not repeated."""
    if not _BUILD:
        html = ROOT / "_build" / "html"
        _BUILD.update(html=html, returncode=0, log="(reused an up-to-date build)", cmd="")
        if _build_time(html) <= _newest_source():
            jb = Path(sys.executable).with_name("jupyter-book")
            cmd = [str(jb) if jb.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
            _BUILD.update(returncode=res.returncode, cmd=" ".join(cmd),
                          log=f"{res.stdout[-6000:]}\n{res.stderr[-3000:]}")
    return _BUILD


@pytest.fixture(scope="session")
def html_dir() -> Path:
    """The built site.  With ``--keep-going`` a build that fails on warnings still writes every
    page, so the page checks run on it; :func:`test_the_build_is_clean` reports the failure."""
    if os.environ.get("EDGELEARN_SITE"):
        html = Path(os.environ["EDGELEARN_SITE"]).resolve()
        assert (html / "index.html").exists(), f"EDGELEARN_SITE={html} holds no built site"
        return html
    build = build_once()
    if not (build["html"] / "index.html").exists():
        pytest.fail(f"{build['cmd']} wrote no site:\n{build['log']}")
    return build["html"]


def test_the_build_is_clean(html_dir):
    """The README's build command succeeds: every notebook executes and nothing warns (-W -n)."""
    if os.environ.get("EDGELEARN_SITE"):
        pytest.skip("EDGELEARN_SITE: a build made elsewhere")
    build = build_once()
    warnings = [line for line in build["log"].splitlines() if "WARNING" in line or "ERROR" in line]
    assert build["returncode"] == 0, f"{build['cmd']} failed:\n" + "\n".join(warnings[:30] or [build["log"]])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(html_dir):
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser_context():
    if _NO_BROWSER is not None:
        if _IN_CI:
            pytest.fail(_NO_BROWSER)
        pytest.skip(_NO_BROWSER)
    profile = tempfile.mkdtemp(prefix="edgelearn-chromium-")
    with playwright_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                   args=FLAGS, viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` as its URL path, the root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [p.rsplit(".", 1)[0] + ".html" if p.endswith((".md", ".ipynb")) else p + ".html" for p in pages]


# ---------------------------------------------------------------- what one page must satisfy
WAIT_FOR_MATH = """async () => {
  if (!window.MathJax) return 'none';
  if (MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  if (MathJax.typesetPromise) { await MathJax.typesetPromise(); }
  return 'done';
}"""

MATH_STATE = """() => {
  const sources = document.querySelectorAll('span.math, div.math');
  const unrendered = Array.from(sources).filter(el => !el.querySelector('mjx-container'));
  return {sources: sources.length,
          rendered: document.querySelectorAll('mjx-container').length,
          unrendered: unrendered.slice(0, 5).map(el => el.textContent.slice(0, 80)),
          errors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                      .slice(0, 5).map(el => el.getAttribute('data-mjx-error') || el.textContent)};
}"""

IMAGE_STATE = """async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({src: i.currentSrc.slice(0, 120), ok: i.complete && i.naturalWidth > 0}));
}"""


# Each display equation: how far it sticks out of its box, and which element would scroll or
# clip it (the nearest one, itself included, whose overflow-x is not "visible").
MATH_WIDTH = """() => {
  const tex = new Map();
  try { for (const item of MathJax.startup.document.math) tex.set(item.typesetRoot, item.math); } catch (e) {}
  return Array.from(document.querySelectorAll('div.math')).map(box => {
    const mjx = box.querySelector('mjx-container');
    // the innermost of (MathJax's container, the math block) whose content sticks out
    const inner = mjx && mjx.scrollWidth > mjx.clientWidth + 1 ? mjx : box;
    let el = inner, holder = null;
    while (el && el !== document.documentElement) {
      const ox = getComputedStyle(el).overflowX;
      if (ox !== 'visible') { holder = {own: el === box || el === mjx, overflow: ox}; break; }
      el = el.parentElement;
    }
    return {tex: (mjx && tex.get(mjx) || box.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 90),
            id: box.id || (box.previousElementSibling && box.previousElementSibling.id) || '',
            over: inner.scrollWidth - inner.clientWidth, width: inner.clientWidth, holder: holder};
  });
}"""
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class PageCheck:
    """Opens one page and records what went wrong (and how its equations fit at 1280 and 390 px)."""

    def __init__(self, context, url):
        self.page = context.new_page()
        self.console_errors, self.page_errors, self.failed = [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url[:120]} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url[:120]} (HTTP {r.status})"))
        self.response = self.page.goto(url, wait_until="load", timeout=60_000)
        try:                                          # late requests (fonts, frames) settle
            self.page.wait_for_load_state("networkidle", timeout=5_000)
        except playwright_api.TimeoutError:
            pass
        self.mathjax = self.page.evaluate(WAIT_FOR_MATH)
        self.math_desktop = self.page.evaluate(MATH_WIDTH) if self.mathjax == "done" else []
        self.page.set_viewport_size(PHONE)
        self.page.wait_for_timeout(200)               # reflow
        self.math_phone = self.page.evaluate(MATH_WIDTH) if self.mathjax == "done" else []
        self.page.set_viewport_size(DESKTOP)
        self.page.wait_for_timeout(100)

    def close(self):
        self.page.close()


@pytest.fixture(scope="session")
def visited(browser_context, server, html_dir):
    """Every navigation page opened once: {path: PageCheck}."""
    pages = {}
    for path in toc_pages():
        pages[path] = PageCheck(browser_context, f"{server}/{path}")
    yield pages
    for check in pages.values():
        check.close()


# ---------------------------------------------------------------- tests
def test_navigation_lists_every_toc_page(visited):
    root = visited[toc_pages()[0]]
    hrefs = root.page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference.internal, .bd-sidebar-primary a.reference.internal",
        "els => els.map(a => new URL(a.href).pathname.replace(/^\\//, ''))")
    missing = set(toc_pages()[1:]) - set(hrefs)
    assert not missing, f"pages of _toc.yml missing from the sidebar: {sorted(missing)}"


@pytest.mark.parametrize("path", toc_pages())
def test_page_loads_without_errors(visited, path):
    check = visited[path]
    assert check.response is not None and check.response.ok, f"{path}: HTTP {check.response and check.response.status}"
    assert check.page.title(), f"{path}: no title"
    assert not check.page_errors, f"{path}: uncaught JavaScript errors {check.page_errors}"
    assert not check.console_errors, f"{path}: console errors {check.console_errors}"
    assert not check.failed, f"{path}: failed requests {check.failed}"


@pytest.mark.parametrize("path", toc_pages())
def test_every_image_loads(visited, path):
    images = visited[path].page.evaluate(IMAGE_STATE)
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"{path}: images that did not load: {broken}"


@pytest.mark.parametrize("path", toc_pages())
def test_every_equation_renders(visited, path):
    check = visited[path]
    state = check.page.evaluate(MATH_STATE)
    if state["sources"] == 0:
        return                                        # a page without mathematics
    assert check.mathjax == "done", f"{path}: {state['sources']} equations but MathJax did not load"
    assert not state["unrendered"], f"{path}: equations left as TeX: {state['unrendered']}"
    assert not state["errors"], f"{path}: MathJax errors: {state['errors']}"
    assert state["rendered"] >= state["sources"]


def notebook_pages() -> list[str]:
    """The navigation pages whose source is a notebook."""
    return [p for p in toc_pages() if (ROOT / p.replace(".html", ".ipynb")).exists()]


def _repository_url() -> str:
    """``repository.url`` of ``_config.yml``: the one place the book's public home is named."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return str((config.get("repository") or {}).get("url") or "").strip()


LAUNCH_HOSTS = ("mybinder.org", "colab.research.google.com", "deepnote.com")


@pytest.mark.parametrize("path", notebook_pages())
def test_notebook_pages_have_a_download_and_no_dead_button(visited, path):
    page = visited[path].page
    nb = path.replace(".html", ".ipynb")
    links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    downloads = [h for h in links if h.endswith(".ipynb") and h.startswith("http://127.0.0.1")]
    assert downloads, f"{path}: no download link to the notebook"
    assert page.request.get(downloads[0]).ok, f"{path}: {downloads[0]} does not download"
    launch = [h for h in links if any(host in h for host in LAUNCH_HOSTS)]
    repo = _repository_url()
    if repo:        # a real home: the launch buttons open this notebook there
        assert any("colab.research.google.com" in h and h.endswith(nb) for h in launch), f"{path}: no Colab button"
        assert any("mybinder.org" in h and nb in h for h in launch), f"{path}: no Binder button"
        assert any(h.startswith(repo) for h in links), f"{path}: no repository button"
    else:           # no public home: no button may pretend there is one
        assert not launch, f"{path}: launch buttons without a repository (repository.url is empty): {launch}"


@pytest.mark.parametrize("path", toc_pages())
def test_every_internal_link_resolves(visited, path, html_dir):
    page = visited[path].page
    links = page.eval_on_selector_all("a[href], img[src], link[href], script[src]",
                                      "els => els.map(e => e.href || e.src)")
    dead = []
    for url in sorted(set(links)):
        if PLACEHOLDER_REPOSITORY in url:
            dead.append(f"{url} (the placeholder repository, which does not exist)")
        if not url.startswith("http://127.0.0.1") or url.startswith("data:"):
            continue
        local = html_dir / url.split("/", 3)[3].split("#")[0].split("?")[0]
        if local.is_dir():
            local = local / "index.html"
        if not local.exists():
            dead.append(url)
    assert not dead, f"{path}: links to nothing: {dead[:10]}"


@pytest.mark.parametrize("path", toc_pages())
def test_display_equations_fit_at_1280_px(visited, path):
    """No display equation needs horizontal scrolling on a 1280 px wide screen."""
    wide = [f"{m['id'] or '?'}: {m['over']} px too wide for {m['width']} px: {m['tex']}"
            for m in visited[path].math_desktop if m["over"] > 1]
    assert not wide, f"{path}: {len(wide)} display equations need scrolling at 1280 px:\n" + "\n".join(wide)


@pytest.mark.parametrize("path", toc_pages())
def test_display_equations_are_never_cut_off_on_a_phone(visited, path):
    """At 390 px an equation may be wider than the column, but then it scrolls inside its own box
    (nothing clips it, and the page itself does not scroll sideways)."""
    cut = [f"{m['id'] or '?'} ({m['over']} px over, held by {m['holder']}): {m['tex']}"
           for m in visited[path].math_phone
           if m["over"] > 1 and not (m["holder"] and m["holder"]["own"]
                                     and m["holder"]["overflow"] in ("auto", "scroll"))]
    assert not cut, f"{path}: equations cut off at 390 px:\n" + "\n".join(cut)


def _explorer_reacts(page, root):
    """Move every slider of one explorer to its end and back; return the problems."""
    problems = []
    sliders = root.locator("input.el-fs-slider")
    img = root.locator("img.el-fs-frame")
    for i in range(sliders.count()):
        s = sliders.nth(i)
        if s.get_attribute("max") == "0":
            continue
        before, label = img.get_attribute("src"), root.locator("output.el-fs-value").nth(i).inner_text()
        s.scroll_into_view_if_needed()
        s.focus()
        page.keyboard.press("End")                    # as a reader would, with the keyboard
        after = img.get_attribute("src")
        if after == before:
            problems.append(f"slider {i}: the picture did not change")
        if root.locator("output.el-fs-value").nth(i).inner_text() == label:
            problems.append(f"slider {i}: the printed value did not change")
        try:                                          # frames are separate files on the site
            page.wait_for_function("i => i.complete", arg=img.element_handle(), timeout=10_000)
        except playwright_api.TimeoutError:
            pass
        ok = page.evaluate("i => i.complete && i.naturalWidth > 0", img.element_handle())
        if not ok:
            problems.append(f"slider {i}: the new frame is not a loadable image")
        page.keyboard.press("Home")
        if img.get_attribute("src") != before:
            problems.append(f"slider {i}: moving back did not restore the first frame")
    return problems


@pytest.mark.parametrize("path", toc_pages())
def test_every_explorer_reacts_to_its_sliders(visited, path):
    page = visited[path].page
    explorers = page.locator(".el-frame-slider")
    problems = []
    for k in range(explorers.count()):
        problems += [f"explorer {k}: {p}" for p in _explorer_reacts(page, explorers.nth(k))]
        caption = explorers.nth(k).locator(".el-fs-caption")
        if caption.count() == 0 or not caption.first.inner_text().strip():
            problems.append(f"explorer {k}: no caption (frame_slider(..., caption='what to notice'))")
    assert not problems, f"{path}: {problems}"
    assert not visited[path].page_errors


def test_standalone_explorer_in_the_browser(browser_context):
    """Two frame_slider explorers on one page work independently (unique ids)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgelearn.explorers import frame_slider

    def make(a, b=0):
        fig, ax = plt.subplots(figsize=(2, 1.5), dpi=40)
        ax.bar([0, 1], [a, b])
        ax.set_ylim(0, 4)
        return fig

    one = frame_slider(make, {"a": [1, 2, 3]}).data
    two = frame_slider(make, {"a": [1, 2], "b": [0, 3]}).data
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.set_content(f"<html><body>{one}{two}</body></html>")
    roots = page.locator(".el-frame-slider")
    assert roots.count() == 2
    second_src = roots.nth(1).locator("img").get_attribute("src")
    assert _explorer_reacts(page, roots.nth(0)) == []
    assert roots.nth(1).locator("img").get_attribute("src") == second_src   # untouched
    assert _explorer_reacts(page, roots.nth(1)) == []
    assert not errors
    page.close()


def test_screenshots_of_three_pages(visited, html_dir):
    """Saves the title page, the first page with an explorer and the page with most equations."""
    out = html_dir.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    paths = toc_pages()
    chosen = [paths[0]]
    with_explorer = [p for p in paths if visited[p].page.locator(".el-frame-slider").count()]
    if with_explorer:
        chosen.append(with_explorer[0])
    by_math = sorted(paths, key=lambda p: -visited[p].page.locator("mjx-container").count())
    chosen += [p for p in by_math + paths if p not in chosen][: 3 - len(chosen)]
    for p in chosen:
        target = out / (p.replace("/", "_").replace(".html", "") + ".png")
        visited[p].page.screenshot(path=str(target), full_page=False)
        assert target.stat().st_size > 5_000, f"{target} looks empty"
    phone = out / "phone_most_equations.png"
    visited[by_math[0]].page.set_viewport_size(PHONE)
    visited[by_math[0]].page.evaluate("""() => {      // show the widest equation, mid-scroll
        const boxes = Array.from(document.querySelectorAll('div.math mjx-container[display="true"]'));
        const wide = boxes.sort((a, b) => (b.scrollWidth - b.clientWidth) - (a.scrollWidth - a.clientWidth))[0];
        if (wide) { wide.scrollIntoView({block: 'center'}); wide.scrollLeft = 40; }
    }""")
    visited[by_math[0]].page.screenshot(path=str(phone), full_page=False)
    visited[by_math[0]].page.set_viewport_size(DESKTOP)
    assert phone.stat().st_size > 5_000


# ---------------------------------------------------------------- the build itself (no browser)
def toc_notebooks() -> list[Path]:
    """The notebooks of ``_toc.yml``: what the build executes."""
    return [ROOT / p.replace(".html", ".ipynb") for p in notebook_pages()]


BOOK_NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_in_the_toc_and_well_formed(path):
    """The build (the suite's one execution of the notebooks) runs what _toc.yml lists: a notebook
    missing from it would never run.  Lab needs a kernelspec; tags must be a JSON list."""
    assert path in toc_notebooks(), f"{path.name} is not in _toc.yml: the build (and so the tests) skip it"
    nb = json.loads(path.read_text())
    ks = nb["metadata"].get("kernelspec") or {}
    assert ks.get("name") == "python3", f"{path.name}: no python3 kernelspec in its metadata ({ks!r})"
    bad = [(i, c["metadata"]["tags"]) for i, c in enumerate(nb["cells"])
           if "tags" in c.get("metadata", {}) and not (isinstance(c["metadata"]["tags"], list) and all(
               isinstance(t, str) and "=" not in t and "[" not in t for t in c["metadata"]["tags"]))]
    assert not bad, f"{path.name}: malformed cell tags (must be a list like [\"hide-input\"]): {bad}"
    text = path.read_text()
    assert PLACEHOLDER_REPOSITORY not in text, (
        f"{path.name} mentions {PLACEHOLDER_REPOSITORY}, which does not exist (a Colab install cell?)")


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_the_build_executed_every_notebook_without_error(html_dir, path):
    """The build's execution cache holds this notebook's current code, executed without an error
    (a failing notebook is never cached: the build stops on it)."""
    import nbformat
    from jupyter_cache import get_cache
    where = html_dir.parent / ".jupyter_cache"            # jupyter-book keeps it beside html/
    if not where.is_dir():
        pytest.skip(f"no execution cache beside {html_dir} (EDGELEARN_SITE names a build without one)")
    cache = get_cache(str(where))
    try:
        record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
    except KeyError:
        pytest.fail(f"{path.name}: the build did not execute its current version (not in the execution cache)")
    nb = cache.get_cache_bundle(record.pk).nb
    errors = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not errors, f"{path.name}: cells {errors} hold errors"


def test_no_page_is_heavier_than_800_kb(html_dir):
    pages = sorted(html_dir.rglob("*.html"))
    assert pages
    heavy = {p.relative_to(html_dir).as_posix(): p.stat().st_size for p in pages
             if p.stat().st_size > MAX_PAGE_BYTES}
    assert not heavy, f"pages over {MAX_PAGE_BYTES} bytes: {heavy}"


def test_mathjax_copy_is_trimmed(html_dir):
    mj = html_dir / "_static" / "mathjax"
    size = sum(f.stat().st_size for f in mj.rglob("*") if f.is_file())
    assert (mj / "tex-chtml.js").is_file()
    assert not (mj / "sre").exists(), "the speech-rule engine (3.9 MB) is copied but never loaded"
    assert size < 2_500_000, f"the local MathJax copy is {size} bytes"


def test_the_preface_repeats_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    intro = (ROOT / "book" / "intro.md").read_text()
    for marker in ("build-command", "test-command"):
        block = readme.split(f"<!-- {marker} -->", 1)[1].split("```bash", 1)[1].split("```", 1)[0].strip()
        assert block in intro, f"book/intro.md does not show the README's {marker}: {block}"
