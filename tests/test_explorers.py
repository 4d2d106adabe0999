"""The kernel-free explorer: frames, labels, ids, self-containment, errors, and its JavaScript."""
import base64
import json
import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from edgelearn.explorers import MAX_FRAMES, frame_slider  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def line(a, b=0.0):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1], [b, a + b])
    ax.set_ylim(-5, 10)
    return fig


def frames_of(out):
    """The distinct frames and the frame index per slider combination, read back from the HTML."""
    P = json.loads(re.search(r"var P=(\[.*?\]);", out.data).group(1))
    I = json.loads(re.search(r"var I=(\[.*?\]);", out.data).group(1))
    assert all(p.startswith("data:image/png;base64,") for p in P)
    return [base64.b64decode(p.split(",", 1)[1]) for p in P], I


def test_one_png_per_combination_in_row_major_order():
    out = frame_slider(line, {"a": [1, 2, 3], "b": [0.0, 1.0]})
    pngs, index = frames_of(out)
    assert len(index) == 6 and len(pngs) == 6          # 3 x 2 different pictures
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    # row-major: the frame for (a=2, b=1.0) is number 1*2+1 = 3, and equals a direct rendering
    direct = frame_slider(line, {"a": [2], "b": [1.0]})
    assert frames_of(direct)[0][0] == pngs[index[3]]
    assert 'data-frames="6"' in out.data


def test_identical_frames_are_stored_once():
    out = frame_slider(lambda a: line(1.0), {"a": [1, 2, 3, 4]})
    pngs, index = frames_of(out)
    assert len(pngs) == 1 and index == [0, 0, 0, 0]


def test_figures_are_closed():
    plt.close("all")
    frame_slider(line, {"a": [1, 2, 3]})
    assert plt.get_fignums() == []


def test_self_contained_no_external_resources():
    out = frame_slider(line, {"a": [1, 2]}, title="A <line>")
    assert "<script src" not in out.data and "http" not in out.data
    assert "A &lt;line&gt;" in out.data                 # the title is escaped
    assert out.data.count('type="range"') == 1


def test_each_call_gets_a_unique_id():
    ids = {re.search(r'id="(el-fs-[0-9a-f]+)"', frame_slider(line, {"a": [1]}).data).group(1)
           for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("fmt, expected", [
    (None, ["0.125", "2"]),
    (".1f", ["0.1", "2.0"]),
    ("{:.0%}", ["12%", "200%"]),
    (lambda v: f"<{v}>", ["&lt;0.125&gt;", "&lt;2.0&gt;"]),
    ({"a": "{:.2f} s"}, ["0.12 s", "2.00 s"]),
])
def test_value_labels_follow_fmt(fmt, expected):
    out = frame_slider(line, {"a": [0.125, 2.0]}, fmt=fmt)
    first = re.search(r'<output[^>]*>(.*?)</output>', out.data).group(1)
    assert first == expected[0]
    labels = json.loads(re.search(r"var L=(\[.*?\]\]);", out.data).group(1))
    assert [html_unescape(x) for x in labels[0]] == [html_unescape(e) for e in expected]


def html_unescape(s):
    import html
    return html.unescape(s)


@pytest.mark.parametrize("sliders", [{}, {"a": []}, {"not a name": [1]}, {"a": "abc"}, [1, 2],
                                     {"a": list(range(MAX_FRAMES + 1))}])
def test_bad_sliders_raise_value_error(sliders):
    with pytest.raises(ValueError, match="slider"):
        frame_slider(line, sliders)


def test_make_figure_must_return_a_figure():
    with pytest.raises(ValueError, match="Figure"):
        frame_slider(lambda a: None, {"a": [1]})
    assert plt.get_fignums() == []


# The inline script, run in node against a minimal stand-in for the DOM.
NODE_HARNESS = r"""
var els = {}, img = {src: ''}, root = {setAttribute: function(k, v){ this[k] = v; },
                                       querySelector: function(){ return img; }};
function el(id){ if(!(id in els)) els[id] = {value: '0', textContent: '', ls: {},
    addEventListener: function(t, f){ this.ls[t] = f; }}; return els[id]; }
var document = {getElementById: function(id){ return id === UID ? root : el(id); }};
SCRIPT
var seen = [img.src];
var s0 = el(UID + '-s0'), s1 = el(UID + '-s1');
s0.value = '2'; s0.ls['input'](); seen.push(img.src);
s1.value = '1'; s1.ls['input'](); seen.push(img.src);
console.log(JSON.stringify({srcs: seen, frame: root['data-frame'],
                            labels: [el(UID + '-v0').textContent, el(UID + '-v1').textContent]}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_script_switches_frame_and_label_when_a_slider_moves():
    out = frame_slider(line, {"a": [1, 2, 3], "b": [0.0, 1.0]}, fmt={"b": ".1f"})
    uid = re.search(r'id="(el-fs-[0-9a-f]+)"', out.data).group(1)
    script = re.search(r"<script[^>]*>(.*?)</script>", out.data, re.S).group(1)
    js = NODE_HARNESS.replace("SCRIPT", script).replace("UID", json.dumps(uid))
    res = json.loads(subprocess.run(["node", "-e", js], capture_output=True, text=True,
                                    check=True, timeout=30).stdout)
    pngs, index = frames_of(out)
    src = lambda k: "data:image/png;base64," + base64.b64encode(pngs[index[k]]).decode()  # noqa: E731
    # (a=1,b=0) -> frame 0; (a=3,b=0) -> frame 4; (a=3,b=1) -> frame 5
    assert res["srcs"] == [src(0), src(4), src(5)]
    assert res["frame"] == 5
    assert res["labels"] == ["3", "1.0"]


def test_caption_labels_and_lab_keyboard():
    out = frame_slider(line, {"a": [1, 2]}, caption="Notice the <slope>.",
                       labels={"a": "slope a (1/s)"})
    assert '<div class="el-fs-caption"' in out.data and "Notice the &lt;slope&gt;." in out.data
    assert ">slope a (1/s)</label>" in out.data
    # JupyterLab's shortcuts would swallow the arrow keys without this attribute
    assert out.data.count('data-lm-suppress-shortcuts="true"') == 1
    with pytest.raises(ValueError, match="labels"):
        frame_slider(line, {"a": [1]}, labels={"b": "no such slider"})


# ---------------------------------------------------------------- the live sliders (ipywidgets)
def test_slider_starts_on_its_stated_value_and_shows_units():
    from edgelearn.explorers import slider
    s = slider("energy budget $E_0$", [100.0, 300.0, 1000.0], 300.0, unit="J", fmt=".0f")
    assert s.value == 300.0 and s.label == "300 J"       # exactly the stated default, with its unit
    assert [o[0] for o in s.options] == ["100 J", "300 J", "1000 J"]
    assert s.description == "energy budget $E_0$"
    assert s.layout.max_width == "52em" and s.style.description_width == "16em"
    with pytest.raises(ValueError, match="one of its values"):
        slider("N", [1, 50, 101], 100)
    with pytest.raises(ValueError, match="at least two"):
        slider("N", [100], 100)


def test_live_explorer_redraws_when_a_control_moves():
    from edgelearn.explorers import live_explorer, slider
    calls = []

    def make(a):
        calls.append(a)
        return line(a)

    a = slider("a", [1, 2, 3], 2)
    box = live_explorer(make, {"a": a}, caption="The line gets steeper.")
    assert calls == [2]                                   # drawn once with the default
    a.value = 3
    assert calls == [2, 3]
    assert "The line gets steeper." in box.children[-1].value
    assert plt.get_fignums() == []                        # each figure closed after display
    with pytest.raises(ValueError, match="caption"):
        live_explorer(make, {"a": a}, caption="")
