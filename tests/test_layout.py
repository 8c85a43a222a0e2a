"""The code's own rules: scripts/ use only facerec's public names, and every extra the text names exists."""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def private_imports(path: Path) -> list[str]:
    """facerec names imported by `path` whose module path or name starts with an underscore."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "facerec":
            names = node.module.split(".") + [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [part for alias in node.names if alias.name.split(".")[0] == "facerec"
                     for part in alias.name.split(".")]
        else:
            continue
        if any(name.startswith("_") for name in names):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_scripts_import_only_public_names():
    scripts = sorted((REPO / "scripts").glob("*.py"))
    assert scripts
    assert [hit for path in scripts for hit in private_imports(path)] == []


def test_every_extra_named_exists():
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    texts = [*REPO.glob("*.md"), *REPO.glob("*/README.md"), *(REPO / "facerec").rglob("*.py"),
             *(REPO / "scripts").glob("*.py")]
    named = {(path.relative_to(REPO).as_posix(), extra) for path in texts
             for extra in re.findall(r"facerec\[([a-z0-9_-]+)\]", path.read_text(errors="replace"))}
    assert named and sorted((path, extra) for path, extra in named if extra not in extras) == []


def test_dir_lists_the_lazy_api():
    """`facerec.verify_faces` and friends are imported on first use; dir() and completion still show them."""
    import facerec

    listed = dir(facerec)
    for name in facerec.__all__:
        assert name in listed and callable(getattr(facerec, name))
    assert "__version__" in listed
