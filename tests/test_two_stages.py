"""Static checks of the chapter book/two_stages.ipynb (no kernel, no solves: the notebook's own
numbers are checked by executing it: the test suite's one book build, tests/test_site.py)."""
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NB = BOOK / "two_stages.ipynb"


@pytest.fixture(scope="module")
def nb():
    return json.loads(NB.read_text())


def _sources(nb, kind):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def test_committed_without_outputs_and_with_a_kernelspec(nb):
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None
        assert isinstance(c["metadata"].get("tags", []), list)


def test_every_glued_key_in_the_text_is_glued_by_a_code_cell(nb):
    code = "\n".join(_sources(nb, "code"))
    used = set(re.findall(r"\{glue:(?:text|md)?\}`([\w-]+)", "\n".join(_sources(nb, "markdown"))))
    assert used, "the chapter quotes no computed number"
    # keys are glued with literal names or f-strings over the presets, schemes and short names
    patterns = [re.sub(r"\\\{\w+\\\}", r"\\w+", re.escape(p)) for p in re.findall(r'put\(f?"(ts-[^"]+)"', code)]
    missing = [k for k in used if not any(re.fullmatch(p, k) for p in patterns)]
    assert not missing, f"quoted but never glued: {missing}"


def test_equation_references_resolve_in_the_book(nb):
    labels = set()
    for f in BOOK.glob("*.ipynb"):
        text = "\n".join("".join(c["source"]) for c in json.loads(f.read_text())["cells"])
        labels |= set(re.findall(r"\$\$ \(([\w-]+)\)", text))
    text = "\n".join(_sources(nb, "markdown"))
    own = set(re.findall(r"\$\$ \(([\w-]+)\)", text))
    assert own and all(lab.startswith("ts-") for lab in own)
    refs = set(re.findall(r"\{eq\}`([\w-]+)`", text))
    assert refs - labels == set()


def test_has_the_parts_of_a_chapter(nb):
    text = "\n".join(_sources(nb, "markdown"))
    for heading in ("**In this chapter you will learn**", "## Summary", "## Exercises"):
        assert heading in text
    assert text.count("```{exercise}") == text.count(":class: dropdown") >= 2
    code = "\n".join(_sources(nb, "code"))
    assert "widgets.interact(" in code and "frame_slider(" in code and "regime_map(" in code
    assert "google.colab" not in code and "github.com/edgelearn/edgelearn" not in text + code


def test_is_in_part_iii_after_algorithm():
    toc = (BOOK.parent / "_toc.yml").read_text().splitlines()
    files = [line.strip() for line in toc if line.strip().startswith("- file:")]
    assert files[files.index("- file: book/algorithm") + 1] == "- file: book/two_stages"
