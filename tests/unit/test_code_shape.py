"""House rules the code keeps: no function in components/ longer than MAX_FUNCTION_LINES, and no module of
tests/ or benchmarks/ imports a test module (shared code lives in tests/support/, benchmarks use only that)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.pulumi_harness import ROOT

MAX_FUNCTION_LINES = 60
TEST_PACKAGES = ("tests.unit", "tests.integration")


def _long_functions() -> list[str]:
    found = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() is {length} lines")
    return found


def test_no_function_in_components_is_longer_than_60_lines() -> None:
    assert _long_functions() == []


def test_the_rule_sees_a_long_function(tmp_path, monkeypatch) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "long.py").write_text(f"def too_long():\n{body}\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _long_functions() == [f"components/long.py:1 too_long() is {MAX_FUNCTION_LINES + 1} lines"]


def _imported(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module or name `path` imports, anywhere in it, as a dotted name with relative imports resolved."""
    package = path.relative_to(root).parent.parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _test_module_imports(root: Path) -> list[str]:
    found = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            for line, name in _imported(path, root):
                parts = name.split(".")
                from_tests = name.startswith(tuple(f"{p}." for p in TEST_PACKAGES)) or name in TEST_PACKAGES
                if from_tests or any(part.startswith("test_") for part in parts):
                    found.append(f"{path.relative_to(root)}:{line} imports {name}")
                elif folder == "benchmarks" and parts[0] == "tests" and parts[1:2] != ["support"]:
                    found.append(f"{path.relative_to(root)}:{line} imports {name}, not tests.support")
    return found


def test_no_module_imports_a_test_module_and_benchmarks_use_only_the_support_package() -> None:
    assert _test_module_imports(ROOT) == []


def test_the_rule_sees_every_form_of_importing_a_test_module(tmp_path: Path) -> None:
    files = {
        "tests/unit/model/test_a.py": "from tests.unit.model.test_config import prod\n",
        "tests/unit/model/test_b.py": "from . import test_a\nfrom .test_a import prod\n",
        "tests/unit/test_c.py": "def f():\n    import tests.integration.test_x\n",
        "tests/support/d.py": "from tests import unit\n",
        "tests/support/e.py": "from tests.support.cluster import running\n",
        "benchmarks/f.py": "from tests.support import stack_configs\nfrom tests.helpers import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _test_module_imports(tmp_path) == [
        "tests/support/d.py:1 imports tests.unit",
        "tests/unit/model/test_a.py:1 imports tests.unit.model.test_config.prod",
        "tests/unit/model/test_b.py:1 imports tests.unit.model.test_a",
        "tests/unit/model/test_b.py:2 imports tests.unit.model.test_a.prod",
        "tests/unit/test_c.py:2 imports tests.integration.test_x",
        "benchmarks/f.py:2 imports tests.helpers.x, not tests.support",
    ]


def _layout_table_folders(readme: str) -> set[str]:
    """The folders the README's "Where things live" table names in its first column."""
    section = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name.strip("/") for row in rows for name in re.findall(r"`([^`]+/)`", row)}


def _code_folders(root: Path) -> set[str]:
    """Each package directly under components/ and tests/, and the other top-level folders of code and docs."""
    packages = {
        str(init.parent.relative_to(root))
        for top in ("components", "tests")
        for init in (root / top).glob("*/__init__.py")
    }
    return packages | {"policy", "benchmarks", "docs", "docs/decisions"}


def test_the_readme_layout_table_names_every_folder_and_only_folders_that_exist() -> None:
    assert _layout_table_folders((ROOT / "README.md").read_text()) == _code_folders(ROOT)


def test_the_layout_rule_sees_a_folder_missing_from_the_table(tmp_path) -> None:
    for package in ("components/model", "components/extra", "tests/unit"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    readme = "## Where things live\n\n| folder | what |\n|---|---|\n| `components/model/`, `tests/unit/` | x |\n"
    missing = _code_folders(tmp_path) - _layout_table_folders(readme)
    assert "components/extra" in missing and not {"components/model", "tests/unit"} & missing
