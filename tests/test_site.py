"""The built website in a real browser (headless Debian chromium driven by Playwright).

Builds the book with the README's command (or reuses ``_build/html`` when it is newer than every
source; ``EDGELEARN_SITE=/path/to/html`` tests another build), serves it on 127.0.0.1 and opens
every page of the navigation: each page loads, logs no JavaScript error and requests nothing
that fails (the site must work offline), every image has loaded, every equation was typeset by
MathJax without an error, and every kernel-free explorer (``edgelearn.explorers.frame_slider``)
shows another frame when one of its sliders moves.  Screenshots of three pages are saved under
``_build/screenshots/``.

Needs ``/usr/bin/chromium`` (``bash scripts/install.sh --browser``) and the ``playwright`` pip
package (no browser download: Playwright drives Debian's chromium).
"""
from __future__ import annotations

import functools
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

# Outside CI a missing browser skips these tests; in CI (CI=true) it is a failure, never a skip.
_IN_CI = bool(os.environ.get("CI"))
if _IN_CI:
    import playwright.sync_api as playwright_api
else:
    playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not _IN_CI and not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} missing: run `bash scripts/install.sh --browser`")


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


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if os.environ.get("EDGELEARN_SITE"):
        html = Path(os.environ["EDGELEARN_SITE"]).resolve()
        assert (html / "index.html").exists(), f"EDGELEARN_SITE={html} holds no built site"
        return html
    html = ROOT / "_build" / "html"
    if _build_time(html) <= _newest_source():
        jb = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(jb) if jb.exists() else "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}"
    return html


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


class PageCheck:
    """Opens one page and records what went wrong."""

    def __init__(self, context, url):
        self.page = context.new_page()
        self.console_errors, self.page_errors, self.failed = [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url[:120]} ({r.failure})"))
        self.response = self.page.goto(url, wait_until="load", timeout=60_000)
        try:                                          # late requests (fonts, frames) settle
            self.page.wait_for_load_state("networkidle", timeout=5_000)
        except playwright_api.TimeoutError:
            pass
        self.mathjax = self.page.evaluate(WAIT_FOR_MATH)

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


@pytest.mark.parametrize("path", notebook_pages())
def test_notebook_pages_have_launch_and_download_buttons(visited, path):
    page = visited[path].page
    nb = path.replace(".html", ".ipynb")
    links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    assert any("colab.research.google.com" in h and h.endswith(nb) for h in links), f"{path}: no Colab button"
    assert any("mybinder.org" in h and h.endswith(nb) for h in links), f"{path}: no Binder button"
    downloads = [h for h in links if h.endswith(".ipynb") and h.startswith("http://127.0.0.1")]
    assert downloads, f"{path}: no download link to the notebook"
    assert page.request.get(downloads[0]).ok, f"{path}: {downloads[0]} does not download"


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
