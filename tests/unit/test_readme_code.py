"""The Python the README shows works as written: every `from passkey_api... import ...` in
its code blocks names a module and names that exist (the dependencies moved once, from
sessions/ to api/, and the README kept pointing at the old module)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _imports() -> list[tuple[str, str]]:
    found = []
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in BLOCK.findall(document.read_text()):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "passkey_api"
                ):
                    found += [(str(node.module), alias.name) for alias in node.names]
    return found


def test_the_readme_shows_python_that_imports_the_service() -> None:
    imports = _imports()
    assert imports, "the README's example of protecting routes imports from passkey_api"
    for module, name in imports:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
