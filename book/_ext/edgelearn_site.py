"""Sphinx extension of the edgelearn book: local MathJax, and an API reference that resolves.

1. MathJax 3 served from a local copy, trimmed to what the book uses.

Sphinx loads MathJax from a public CDN by default, so with no network the equations of the
site would not render.  The MathJax 3 distribution ships inside the PyPI package
``django-static-mathjax`` (import name ``mathjax``; it needs no Django).  This extension points
``mathjax_path`` at ``_static/mathjax/tex-chtml.js`` (TeX in, HTML-CSS out: the book writes no
MathML) and copies only what that component can ask for: the TeX extensions it autoloads (such
as ``boldsymbol``) and the CHTML web fonts, about 2 MB in all instead of the whole 9.7 MB
distribution.  The right-click menu is off (``enableMenu: false``): its accessibility explorer
would fetch the 3.9 MB speech-rule engine.  The copy is made once; later builds check a stamp.

2. Cross-references to re-exported names.  ``edgelearn.Plan`` or a bare ``Scenario`` in a
docstring name objects that the API page documents under their defining module
(``edgelearn.plan.Plan``); a ``missing-reference`` handler imports the name and resolves it
there, so nitpicky builds (``-n``) stay clean without duplicate entries.

3. Each inline script appears once per page.  Sphinx 7.4 re-adds the scripts that extensions
registered after the builder started with ``None`` turned into ``''``, so inline scripts of
sphinx-thebe and sphinx-togglebutton were written twice, and ``const THEBE_JS_URL`` declared
twice is a JavaScript error on every page.

4. Docstrings are plain-text mathematics: ``|h|^2`` means an absolute value, not an RST
substitution, so a pipe inside a line (outside inline literals and roles) is escaped before
docutils reads it.  References to edgelearn objects that exist but are not part of the
documented API (private helpers) render as code without a link; references to names that do
not exist still warn, so ``-n`` keeps catching typos.

5. Napoleon leaves property and attribute docstrings alone: it would read
"Energy of each round (N,): ..." as "type: description".

6. No execution stall on ``Output`` widgets (see :func:`patch_nbclient_output_widget`).

8. Buttons only where they can work: the repository URL lives in one place (``repository.url``
in ``_config.yml``, i.e. ``html_theme_options["repository_url"]``).  While it is empty the
Binder, Colab, JupyterHub and repository/issues/edit buttons are switched off, whatever the rest
of the configuration asks for; once it is set, the repository button and the launch buttons of
``launch_buttons`` appear.  The download button (a local file) stays either way.

9. Light pages.  Explorer frames (``edgelearn.explorers.frame_slider`` embeds them as base64
PNG data URIs, so that a notebook stays self-contained) and any other embedded PNG are moved into
separate files ``_images/frames/<hash>.png`` after the build, and the page refers to them; a page
then loads only the frames a reader asks for.  The ipywidgets state that myst-nb writes into a page
is removed when no widget manager is loaded (``nb_ipywidgets_js`` empty): nothing could draw it.

11. Notebooks executed in parallel.  With ``execute_notebooks: cache``, myst-nb executes each
notebook that is not in the execution cache one after another, while it reads the sources.
Before that, :func:`_execute_in_parallel` executes those notebooks ``edgelearn_execution_jobs``
at a time (default: the number of CPUs, at most 4; environment variable
``EDGELEARN_BUILD_JOBS``), in worker processes that run the same jupyter-cache function as myst-nb
(with the patch of item 6), and stores each success in the cache, where myst-nb then finds it.
A notebook that fails is not cached: myst-nb executes it again and reports the error as usual.

10. ``static/edgelearn.css``: display equations wider than the column scroll inside their own
box with a shadow at the hidden side (phones), explorer captions styled as captions.

7. Bibliography labels in the author-year style of the citations: the pybtex style
``edgelearn`` (``bibtex_default_style``) labels entries "Lyu et al., 2024" and sorts them by
author, year and title, so the list reads like the citations that point at it.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from sphinx.errors import ExtensionError

TARGET = "mathjax"                      # folder under _static
ENTRY = "tex-chtml.js"                  # the combined component the pages load
PARTS = (ENTRY, "input/tex/extensions", "output/chtml/fonts/woff-v2")


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 distribution."""
    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            es5 = Path(loc) / "static" / "mathjax" / "es5"
            if (es5 / ENTRY).is_file():
                return es5
    raise ExtensionError("MathJax 3 is not installed: `pip install django-static-mathjax` "
                         "(listed in requirements.txt) so that equations render offline")


def _version(es5: Path) -> str:
    pkg = es5.parent / "package.json"
    return pkg.read_text() if pkg.is_file() else str((es5 / ENTRY).stat().st_mtime)


LAUNCH_KEYS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")


def repository_url(config) -> str:
    """The book's public repository URL ('' while the project has none)."""
    return str((config.html_theme_options or {}).get("repository_url") or "").strip()


def _buttons_follow_repository(config) -> None:
    opts = dict(config.html_theme_options or {})
    if repository_url(config):
        opts["use_repository_button"] = True          # the URL is the one switch
        config.html_theme_options = opts
        return
    for key in ("use_repository_button", "use_issues_button", "use_edit_page_button",
                "use_source_button"):
        opts[key] = False
    launch = dict(opts.get("launch_buttons") or {})
    for key in LAUNCH_KEYS:
        launch[key] = ""
    launch["thebe"] = False
    opts["launch_buttons"] = launch
    opts["repository_url"] = ""
    config.html_theme_options = opts


def _config_inited(app, config):
    mathjax_source()                                   # fail early and clearly
    _buttons_follow_repository(config)
    config.mathjax_path = f"{TARGET}/{ENTRY}"          # relative to _static
    mj = dict(config.mathjax3_config or {})
    mj["options"] = {**mj.get("options", {}), "enableMenu": False}
    config.mathjax3_config = mj


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    es5 = mathjax_source()
    dest = Path(app.outdir) / "_static" / TARGET
    stamp = dest / ".edgelearn-stamp"
    version = _version(es5) + repr(PARTS)
    if stamp.is_file() and stamp.read_text() == version:
        return
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=dest.parent))
    for part in PARTS:
        src = es5 / part
        (tmp / part).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, tmp / part)
        elif src.is_file():
            shutil.copy2(src, tmp / part)
        else:
            raise ExtensionError(f"MathJax part {src} is missing from the installed distribution")
    (tmp / ".edgelearn-stamp").write_text(version)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


FRAMES = "frames"                        # folder under _images
_DATA_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
_WIDGET_STATE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>', re.S)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)                 # mkstemp makes it private; pages and frames are public
    os.replace(tmp, path)


def lighten_page(page: Path, outdir: Path, strip_widget_state: bool) -> tuple[int, int]:
    """Move the page's embedded PNGs into ``_images/frames/`` and (optionally) drop its widget
    state.  Returns (bytes before, bytes after); the page is rewritten only if it changed."""
    text = page.read_text(encoding="utf-8")
    before = len(text.encode("utf-8"))
    frames = outdir / "_images" / FRAMES
    rel = Path(os.path.relpath(frames, page.parent)).as_posix()

    def to_file(match):
        data = base64.b64decode(match.group(1))
        name = hashlib.sha256(data).hexdigest()[:24] + ".png"
        target = frames / name
        if not target.exists():
            frames.mkdir(parents=True, exist_ok=True)
            _write_atomic(target, data)
        return f"{rel}/{name}"

    new = _DATA_PNG.sub(to_file, text)
    if strip_widget_state:
        new = _WIDGET_STATE.sub("", new)
    if new != text:
        _write_atomic(page, new.encode("utf-8"))
    return before, len(new.encode("utf-8"))


def _lighten_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    strip = not getattr(app.config, "nb_ipywidgets_js", None)
    for page in outdir.rglob("*.html"):
        if "_static" in page.relative_to(outdir).parts:
            continue
        lighten_page(page, outdir, strip)


def _import(name: str):
    """The object called ``name`` (dotted), or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    module = node.get("py:module") or ""
    klass = node.get("py:class") or ""
    candidates = []
    if module.startswith("edgelearn"):
        if klass:
            candidates.append(f"{module}.{klass}.{target}")
        candidates.append(f"{module}.{target}")
        parts = module.split(".")
        for i in range(len(parts) - 1, 0, -1):          # a name the enclosing packages re-export
            candidates.append(".".join(parts[:i]) + f".{target}")
    candidates.append(target)
    for cand in candidates:
        if not cand.startswith("edgelearn"):
            continue
        obj = _import(cand)
        if obj is None:
            continue
        mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if mod and qual and mod.startswith("edgelearn") and f"{mod}.{qual}" != cand:
            found = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                                      f"{mod}.{qual}", node, contnode)
            if found is not None:
                return found
        return contnode          # exists in edgelearn but is not documented: plain code, no link
    return None


_ROLE_OR_LITERAL = re.compile(r"(``.*?``|:[a-z:]+:`[^`]*`|`[^`]*`_?)")


def _escape_pipes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "|" not in line or line.lstrip().startswith(("|", "+")):
            continue                                  # tables and line blocks keep their pipes
        parts = _ROLE_OR_LITERAL.split(line)
        lines[i] = "".join(p if j % 2 else p.replace("\\|", "|").replace("|", "\\|")
                           for j, p in enumerate(parts))


def _napoleon_skips_attributes(app):
    listeners = app.events.listeners.get("autodoc-process-docstring", [])
    for i, listener in enumerate(listeners):
        handler = listener.handler
        if getattr(handler, "__module__", "") == "sphinx.ext.napoleon" and \
                getattr(handler, "__name__", "") == "_process_docstring":
            def wrapped(app, what, name, obj, options, lines, _h=handler):
                if what in ("attribute", "property", "data"):
                    return None
                return _h(app, what, name, obj, options, lines)
            listeners[i] = listener._replace(handler=wrapped)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    files = getattr(app.builder, "_js_files", None)
    if not files:
        return
    seen, keep = set(), []
    for js in files:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            keep.append(js)
    files[:] = keep


def _report_send_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logging.getLogger(__name__).warning("Output widget state not sent to the kernel: %r",
                                            future.exception())


def patch_nbclient_output_widget() -> bool:
    """Make nbclient's ``Output``-widget stand-in send through the asyncio socket.

    Upstream bug jupyter/nbclient#312 (also jupyter/jupyter_client#1059): nbclient 0.11's
    ``OutputWidget._publish_msg`` sends its ``comm_msg`` with ``shell_channel.send``, i.e.
    ``Session.send`` on a plain *blocking* shadow of the client's asyncio zmq socket.  That send
    consumes the socket's edge-triggered wake-up, so an ``execute_reply`` that has just arrived is
    not read until the per-cell timeout fires (a 10 s notebook then takes 600 s, and "succeeds").
    Here the message is serialised by the session and sent with ``send_multipart`` on the asyncio
    socket itself, which keeps the event loop's wake-up intact.  The build executes notebooks in
    this process (myst-nb -> jupyter-cache -> nbclient), so patching the class here fixes the
    build.  Returns True when the patch is (now) in place.
    """
    try:
        from nbclient import output_widget
        from nbclient.jsonutil import json_clean
    except ImportError:                                # nothing executes notebooks: nothing to fix
        return False
    cls = output_widget.OutputWidget
    if getattr(cls._publish_msg, "_edgelearn_patched", False):
        return True

    def _publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        data = {} if data is None else data
        metadata = {} if metadata is None else metadata
        content = json_clean(dict(data=data, comm_id=self.comm_id, **keys))
        kc = self.kernel_client
        msg = kc.session.msg(msg_type, content=content, parent=self.parent_header, metadata=metadata)
        socket = kc.shell_channel.socket
        frames = kc.session.serialize(msg)
        result = socket.send_multipart(frames)          # a Future on an asyncio socket
        if hasattr(result, "add_done_callback"):
            result.add_done_callback(_report_send_failure)
        return None

    _publish_msg._edgelearn_patched = True
    _publish_msg.__doc__ = cls._publish_msg.__doc__
    cls._publish_msg = _publish_msg
    return True


def _register_bibliography_style() -> None:
    """The pybtex formatting style ``edgelearn``: plain entries, author-year labels."""
    try:
        import pybtex.plugin
        from pybtex.style.formatting.plain import Style as PlainStyle
        from pybtex.style.labels import BaseLabelStyle
    except ImportError:
        return

    import codecs

    import latexcodec  # noqa: F401  (a pybtex dependency; registers the "ulatex" codec)

    def _surname(person) -> str:
        raw = " ".join(person.prelast_names + person.last_names)
        return codecs.decode(raw, "ulatex").replace("{", "").replace("}", "")

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            labels = []
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                if not people:
                    names = entry.fields.get("title", entry.key).split(":")[0]
                elif len(people) == 1:
                    names = _surname(people[0])
                elif len(people) == 2:
                    names = f"{_surname(people[0])} and {_surname(people[1])}"
                else:
                    names = f"{_surname(people[0])} et al."
                labels.append(f"{names}, {entry.fields.get('year', 'n.d.')}")
            counts = {lab: labels.count(lab) for lab in labels}
            seen: dict[str, int] = {}
            for lab in labels:                          # "Boyd et al., 2016a", "... 2016b"
                if counts[lab] > 1:
                    seen[lab] = seen.get(lab, 0) + 1
                    yield lab + "abcdefghijklmnopqrstuvwxyz"[seen[lab] - 1]
                else:
                    yield lab

    class AuthorYearStyle(PlainStyle):
        default_label_style = "edgelearn"
        default_sorting_style = "author_year_title"

    for kind, cls in (("pybtex.style.labels", AuthorYearLabels),
                      ("pybtex.style.formatting", AuthorYearStyle)):
        pybtex.plugin.register_plugin(kind, "edgelearn", cls, force=True)


def _execute_one(path: str, cwd: str, timeout, allow_errors: bool):
    """Worker: execute one notebook as myst-nb would; (path, executed notebook or None, seconds, error)."""
    patch_nbclient_output_widget()
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=cwd, timeout=timeout, allow_errors=allow_errors, meta_override=True)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {result.err}"[:500]
    return path, nb, result.time, None


def execution_jobs(config) -> int:
    """How many notebooks the build executes at once."""
    env = os.environ.get("EDGELEARN_BUILD_JOBS")
    value = env if env else getattr(config, "edgelearn_execution_jobs", None)
    if value in (None, ""):
        return max(1, min(4, os.cpu_count() or 1))
    try:
        jobs = int(value)
    except (TypeError, ValueError):
        raise ExtensionError(f"edgelearn_execution_jobs / EDGELEARN_BUILD_JOBS must be a whole number "
                             f">= 1; got {value!r}") from None
    if jobs < 1:
        raise ExtensionError(f"edgelearn_execution_jobs / EDGELEARN_BUILD_JOBS must be >= 1; got {jobs}")
    return jobs


#: Notebooks that take longest to execute, slowest first (seconds in the README's cold build of a
#: fresh clone on the project's 2-core machine, two at a time, empty result cache, 2026-12-01:
#: convergence 37, experiments 24, algorithm 22, two_stages 19, distribution_shift 14 (their solves
#: ship as regime maps), deployment 10 (it loads its recorded Flower run); the others under 9).
#: The parallel executor starts them first, so that the short ones fill the other worker instead
#: of one long notebook running alone at the end.  Only an order: a notebook missing here still runs,
#: after these.
SLOWEST_FIRST = ("convergence", "experiments", "algorithm", "two_stages", "distribution_shift", "deployment")


def _slowest_first(path: Path) -> tuple:
    return (SLOWEST_FIRST.index(path.stem) if path.stem in SLOWEST_FIRST else len(SLOWEST_FIRST), str(path))


def _execute_in_parallel(app, env, docnames):
    nbc = getattr(env, "mystnb_config", None)
    if nbc is None or nbc.execution_mode != "cache" or app.builder.format != "html":
        return
    jobs = execution_jobs(app.config)
    if jobs < 2:
        return
    import fnmatch

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(nbc.execution_cache_path)
    todo = []
    for doc in docnames:
        path = Path(env.doc2path(doc))
        if path.suffix != ".ipynb":
            continue
        if any(fnmatch.fnmatch(str(path), pat) or fnmatch.fnmatch(path.name, pat)
               for pat in (nbc.execution_excludepatterns or ())):
            continue
        nb = nbformat.read(path, as_version=4)
        if nb.metadata.get("mystnb", {}).get("execution_mode", "cache") != "cache":
            continue                                    # the notebook asks for another mode
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.append(path)
    if len(todo) < 2:
        return                                          # nothing to gain: myst-nb runs it itself
    todo.sort(key=_slowest_first)
    import concurrent.futures as cf
    import multiprocessing as mp

    from sphinx.util import logging as sphinx_logging

    log = sphinx_logging.getLogger(__name__)
    log.info("edgelearn: executing %d notebooks, %d at a time", len(todo), jobs)
    timeout, allow = nbc.execution_timeout, nbc.execution_allow_errors
    if nbc.execution_in_temp:
        return                                          # myst-nb's temporary folders: leave it to myst-nb
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=mp.get_context("fork")) as pool:
        futures = [pool.submit(_execute_one, str(p), str(p.parent), timeout, allow) for p in todo]
        for fut in cf.as_completed(futures):
            path, nb, seconds, error = fut.result()
            if nb is None:
                log.info("edgelearn: %s failed in a worker (%s); myst-nb runs it again", path, error)
                continue
            record = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds,
                                                                 "executed_by": "edgelearn_site parallel"}),
                                        check_validity=False, overwrite=True)
            log.info("edgelearn: executed %s in %.1f s", path, seconds)


def _add_static(app):
    app.config.html_static_path.append(str(Path(__file__).with_name("static")))


def setup(app):
    patch_nbclient_output_widget()
    app.connect("builder-inited", _add_static)
    app.add_config_value("edgelearn_execution_jobs", None, "env")
    app.connect("env-before-read-docs", _execute_in_parallel)
    app.add_css_file("edgelearn.css")
    _register_bibliography_style()
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _lighten_pages)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _escape_pipes)
    app.connect("builder-inited", _napoleon_skips_attributes)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
