"""House rules the code keeps: no function in components/ longer than MAX_FUNCTION_LINES."""

from __future__ import annotations

import ast

from tests.support.pulumi_harness import ROOT

MAX_FUNCTION_LINES = 60


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
