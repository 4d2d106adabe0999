"""Explorers: figures with sliders, kernel-free on the website and live in JupyterLab.

ipywidgets recompute only when a live kernel is attached; on the static website they are
frozen pictures.  :func:`frame_slider` renders one matplotlib figure per combination of slider
values, embeds the frames as base64 PNGs and returns a small self-contained HTML/JS snippet
(no external scripts, works offline) whose ``<input type="range">`` sliders pick the frame.
The book's Sphinx extension moves the frames into separate image files when it builds the site.

For the live version in JupyterLab, :func:`slider` makes an ipywidgets slider that is wide,
shows its whole label with the unit, and starts exactly on its stated default (it steps through
the given values only, so nothing snaps); :func:`live_explorer` puts such sliders, the figure
and a caption together.

>>> import matplotlib.pyplot as plt
>>> def make(a):
...     fig, ax = plt.subplots()
...     ax.plot([0, 1], [0, a])
...     return fig
>>> frame_slider(make, {"a": [1, 2, 3]}, title="slope")   # doctest: +SKIP
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["frame_slider", "slider", "live_explorer", "MAX_FRAMES"]

#: Largest number of frames one explorer may hold (each is a PNG embedded in the page).
MAX_FRAMES = 100


def _formatter(fmt, name: str) -> Callable[[Any], str]:
    """The function that prints the value of slider ``name`` beside it."""
    if isinstance(fmt, Mapping):
        fmt = fmt.get(name)
    if fmt is None:
        return lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    if callable(fmt):
        return lambda v: str(fmt(v))
    if isinstance(fmt, str):
        if "{" in fmt:
            return lambda v: fmt.format(v)
        return lambda v: format(v, fmt)
    raise ValueError(f"fmt must be None, a format string, a callable or a dict of them per slider; got {fmt!r}")


def _png(fig, dpi) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def frame_slider(make_figure: Callable[..., Any], sliders: Mapping[str, Sequence[Any]], *,
                 title: str | None = None, fmt=None, dpi: float | None = None,
                 caption: str | None = None, labels: Mapping[str, str] | None = None):
    """A kernel-free explorer: sliders over precomputed matplotlib frames.

    Parameters
    ----------
    make_figure
        ``make_figure(**values) -> matplotlib.figure.Figure``, called once per combination of
        slider values (the figure is closed after it is rendered).
    sliders
        ``{name: sequence of values}`` in display order (one slider per name).  The product of
        the lengths is the number of frames: keep it small (about 25; at most ``MAX_FRAMES``).
    title
        Optional heading shown above the sliders.
    fmt
        How a value is printed beside its slider: ``None`` (``.4g`` for floats), a format
        spec such as ``".2f"`` or ``"{:.0f} s"``, a callable, or a dict of those per name.
    dpi
        Resolution of the frames (default: each figure's own dpi).
    caption
        What the reader should notice, shown under the figure (plain text; every explorer of
        the book has one).
    labels
        ``{name: text}`` shown beside a slider instead of its name, e.g. with the unit:
        ``{"p": "transmit power p (W)"}``.

    Returns
    -------
    IPython.display.HTML
        Self-contained HTML (frames as base64 PNG data URIs, inline JavaScript).  Each call
        gets its own element id, so several explorers can sit on one page.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.figure import Figure

    if not callable(make_figure):
        raise ValueError(f"make_figure must be callable; got {make_figure!r}")
    if not isinstance(sliders, Mapping) or len(sliders) == 0:
        raise ValueError(f"sliders must be a non-empty dict name -> sequence of values; got {sliders!r}")
    names = list(sliders)
    values = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"slider name must be a Python identifier (it is passed as a keyword); got {name!r}")
        vals = sliders[name]
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) and not hasattr(vals, "__len__"):
            raise ValueError(f"sliders[{name!r}] must be a sequence of values; got {vals!r}")
        vals = list(vals)
        if len(vals) == 0:
            raise ValueError(f"sliders[{name!r}] must hold at least one value; got an empty sequence")
        values.append(vals)
    n_frames = math.prod(len(v) for v in values)
    if n_frames > MAX_FRAMES:
        raise ValueError(f"sliders give {n_frames} frames (product of {[len(v) for v in values]}); "
                         f"the allowed range is 1..{MAX_FRAMES}: use fewer values")
    labels_of = dict(labels or {})
    unknown = set(labels_of) - set(names)
    if unknown:
        raise ValueError(f"labels names sliders that do not exist: {sorted(unknown)}; the sliders are {names}")
    if caption is not None and not isinstance(caption, str):
        raise ValueError(f"caption must be a string; got {caption!r}")
    labels = [[_formatter(fmt, n)(v) for v in vals] for n, vals in zip(names, values)]

    # Render every combination, last slider fastest (row-major), deduplicating identical PNGs.
    pngs: list[str] = []
    index: list[int] = []
    seen: dict[str, int] = {}
    for combo in itertools.product(*values):
        fig = make_figure(**dict(zip(names, combo)))
        if not isinstance(fig, Figure):
            plt.close("all")
            raise ValueError(f"make_figure must return a matplotlib Figure; got {type(fig).__name__} "
                             f"for {dict(zip(names, combo))!r}")
        try:
            data = _png(fig, dpi)
        finally:
            plt.close(fig)
        if data not in seen:
            seen[data] = len(pngs)
            pngs.append(data)
        index.append(seen[data])

    uid = "el-fs-" + uuid.uuid4().hex[:12]
    esc = html.escape
    rows = []
    for i, (name, vals) in enumerate(zip(names, values)):
        rows.append(
            f'<div style="display:flex;flex-wrap:wrap;align-items:center;gap:0.3em 0.6em;margin:0.2em 0">'
            f'<label for="{uid}-s{i}" style="min-width:6em">{esc(labels_of.get(name, name))}</label>'
            f'<input id="{uid}-s{i}" class="el-fs-slider" type="range" min="0" max="{len(vals) - 1}" '
            f'step="1" value="0" aria-label="{esc(labels_of.get(name, name))}" '
            f'data-lm-suppress-shortcuts="true" style="flex:1;min-width:12em;max-width:28em">'
            f'<output id="{uid}-v{i}" class="el-fs-value" style="min-width:6em;font-family:monospace">'
            f'{esc(labels[i][0])}</output></div>')
    heading = f'<div class="el-fs-title" style="font-weight:bold">{esc(title)}</div>' if title else ""
    alt = esc(title or caption or "explorer frame")
    cap = (f'<div class="el-fs-caption" style="font-size:0.9em;margin-top:0.3em">{esc(caption)}</div>'
           if caption else "")
    sizes = [len(v) for v in values]
    script = (
        "(function(){"
        f"var root=document.getElementById({json.dumps(uid)});if(!root)return;"
        f"var P={json.dumps(['data:image/png;base64,' + p for p in pngs])};"
        f"var I={json.dumps(index)};var L={json.dumps(labels)};"
        f"var S={json.dumps(sizes)};var n=S.length;"
        "var img=root.querySelector('img.el-fs-frame');var ins=[],outs=[];"
        f"for(var i=0;i<n;i++){{ins.push(document.getElementById({json.dumps(uid)}+'-s'+i));"
        f"outs.push(document.getElementById({json.dumps(uid)}+'-v'+i));}}"
        "function show(){var k=0;for(var i=0;i<n;i++){var j=parseInt(ins[i].value,10);"
        "k=k*S[i]+j;outs[i].textContent=L[i][j];}"
        "img.src=P[I[k]];root.setAttribute('data-frame',k);}"
        "for(var i=0;i<n;i++){ins[i].addEventListener('input',show);ins[i].addEventListener('change',show);}"
        "show();})();")
    body = (
        f'<div id="{uid}" class="el-frame-slider" data-frames="{n_frames}" data-frame="0" '
        f'style="margin:0.5em 0 1em 0">{heading}{"".join(rows)}'
        f'<img class="el-fs-frame" alt="{alt}" style="max-width:100%;height:auto" '
        f'src="data:image/png;base64,{pngs[index[0]]}">'
        f'{cap}<script type="text/javascript">{script}</script></div>')
    return HTML(body)


def slider(label: str, values: Sequence[Any], value: Any, *, unit: str = "", fmt: str | None = None,
           width: str = "52em", label_width: str = "16em"):
    """An ipywidgets slider over ``values`` that starts exactly on ``value``.

    A ``SelectionSlider``: it steps through the given values only (so a default such as
    ``E0 = 300`` or ``N = 100`` is shown as stated, never snapped to a neighbour of a grid), is
    as wide as the notebook allows up to ``width``, shows ``label`` whole (``label_width`` of room; LaTeX such as ``$\\hat f$`` is
    rendered) and prints each value with its ``unit``.

    Parameters
    ----------
    label
        Text before the slider, e.g. ``"device clock $\\hat f$"``.
    values
        The values to step through, in order (at least two).
    value
        The starting value; must be one of ``values``.
    unit
        Printed after each value (``"W"``, ``"GHz"``, ``"samples"``).
    fmt
        Format spec of the printed value (default ``".4g"`` for floats).
    """
    import ipywidgets as widgets

    vals = list(values)
    if len(vals) < 2:
        raise ValueError(f"values of slider {label!r} must hold at least two values; got {vals!r}")
    if value not in vals:
        raise ValueError(f"value of slider {label!r} must be one of its values {vals!r}; got {value!r}")
    show = _formatter(fmt, label)
    options = [(f"{show(v)} {unit}".strip(), v) for v in vals]
    return widgets.SelectionSlider(
        options=options, value=value, description=label, continuous_update=False,
        layout=widgets.Layout(width="100%", max_width=width), style={"description_width": label_width})


def live_explorer(make_figure: Callable[..., Any], controls: Mapping[str, Any], *, caption: str,
                  title: str | None = None):
    """A live explorer for JupyterLab: ``controls`` (``{name: widget}``, e.g. from :func:`slider`)
    above the figure ``make_figure(**values)``, redrawn when a control moves, and ``caption``
    (what to notice) below it.  Returns the ``ipywidgets.VBox`` (display it as a cell's value).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not callable(make_figure):
        raise ValueError(f"make_figure must be callable; got {make_figure!r}")
    if not isinstance(controls, Mapping) or not controls:
        raise ValueError(f"controls must be a non-empty dict name -> widget; got {controls!r}")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"caption must be a non-empty string saying what to notice; got {caption!r}")

    def draw(**values):
        fig = make_figure(**values)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(draw, dict(controls))
    parts = []
    if title:
        parts.append(widgets.HTML(f"<b>{html.escape(title)}</b>"))
    parts += list(controls.values()) + [out, widgets.HTML(
        f'<div class="el-live-caption" style="font-size:0.9em">{html.escape(caption)}</div>')]
    return widgets.VBox(parts, layout=widgets.Layout(width="100%"))
