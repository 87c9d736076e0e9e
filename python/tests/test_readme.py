"""The README's Python snippet runs as pasted and shows the events it
promises (the callback and the subscription are registered before the add)."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def snippet() -> str:
    text = README.read_text()
    section = text[text.index("\n### Python\n") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_snippet_runs_and_shows_its_events():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet(), "README.md (### Python)", "exec"), {})
    lines = out.getvalue().splitlines()
    assert "pulled: added" in lines, lines
    assert "pushed: added" in lines, lines
    assert any(l.startswith("1 [") and "'node_id': 'a'" in l for l in lines), lines
