"""The house rules that no linter checks: small modules, a short package root, and
no module reaching into another's underscore names (import cycles and the
layers: `lint-imports`, run by `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

import camlens

PACKAGE = Path(camlens.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
KERAS_INTERNALS = PACKAGE / "model" / "keras_internals.py"


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


def test_at_most_12_modules_at_the_package_root():
    assert len(list(PACKAGE.glob("*.py"))) <= 12


def test_no_module_uses_another_modules_underscore_names():
    """`from x import _name`, or `something._name` where no class or function of
    the module itself defines `_name`: a private name of another module. Keras's
    own internals are read in one module, `model/keras_internals.py`."""
    found = []
    for path in MODULES:
        if path == KERAS_INTERNALS:
            continue
        tree = ast.parse(path.read_text())
        own = _names_defined(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                found += [(path.name, alias.name) for alias in node.names if _private(alias.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
                found.append((path.name, node.attr))
    assert not found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _names_defined(tree: ast.Module) -> set[str]:
    """Functions, classes, module names and attributes (`x._name = ...`) the module defines."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute):
                        names.add(leaf.attr)
                    elif isinstance(leaf, ast.Name):
                        names.add(leaf.id)
    return names


def test_test_modules_have_unique_names_across_tiers():
    """pytest imports test modules by their base name: two tiers' `test_x.py` cannot
    be collected together (`pytest -m "not slow"` over every tier)."""
    tests = Path(__file__).parents[1]
    names = [path.name for path in tests.glob("*/test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
