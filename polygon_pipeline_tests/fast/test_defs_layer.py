"""defs/ stays thin: it imports sync/, the settings and Dagster, and queries no table itself.

The rule, per import found anywhere in a module under polygon_pipeline/defs (inside functions
too: a lazy import is still a dependency):
- from this package, only `polygon_pipeline.defs` (its own features and shared policy),
  `polygon_pipeline.sync` (the use cases and the figures they report), `polygon_pipeline.settings`
  and two process-wide helpers a Dagster boundary needs: `provider_errors` (to tell a refusal
  retrying cannot fix from trouble worth retrying) and `logging_setup` (to keep keys out of
  a run's logs). Not `store` (tables and queries), `chain` (the RPC client, the decoder),
  `data_api`, `governed_http`, `devnet` or `cli`: what defs needs from them, sync/ offers.
- from outside, only the standard library, Dagster and pydantic (Dagster's config and
  resources are pydantic models). Not SQLAlchemy (queries), pandas or matplotlib (the
  summaries' and comparison's work, in sync/), web3 or requests (the provider).
- imports under `if TYPE_CHECKING:` are exempt: they are never executed and name a type only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DEFS = Path(__file__).resolve().parents[2] / "polygon_pipeline" / "defs"
ALLOWED_OWN = (
    "polygon_pipeline.defs",
    "polygon_pipeline.sync",
    "polygon_pipeline.settings",
    "polygon_pipeline.provider_errors",
    "polygon_pipeline.logging_setup",
)
ALLOWED_OUTSIDE = {"dagster", "pydantic", "__future__"}


def _allowed(module: str) -> bool:
    if module == "polygon_pipeline" or module.startswith("polygon_pipeline."):
        return any(module == ok or module.startswith(f"{ok}.") for ok in ALLOWED_OWN)
    top = module.split(".")[0]
    return top in ALLOWED_OUTSIDE or top in sys.stdlib_module_names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import that runs, wherever it is in the module."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the defs package, always inside it
                found.append((node.lineno, "polygon_pipeline.defs"))
            else:
                found.append((node.lineno, node.module or ""))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def violations(source: str) -> list[str]:
    imports = _imports(ast.parse(source))
    return [f"line {line}: {module}" for line, module in imports if not _allowed(module)]


MODULES = sorted(DEFS.rglob("*.py"))


def test_defs_has_feature_folders():
    features = {p.parent.name for p in MODULES if p.parent != DEFS}
    assert {"fills", "history", "live", "api_mode", "reports"} <= features


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(DEFS)))
def test_defs_imports_only_sync_settings_and_dagster(path):
    assert violations(path.read_text()) == [], f"{path.relative_to(DEFS.parent)} imports"


@pytest.mark.parametrize(
    "source",
    [
        "from polygon_pipeline.store.fills_repo import fetch_fills",
        "import sqlalchemy",
        "def f():\n    import pandas as pd\n",
        "from polygon_pipeline.chain.exchanges import EXCHANGES",
        "if not TYPE_CHECKING:\n    pass\nelse:\n    from sqlalchemy import Engine\n",
    ],
)
def test_the_rule_catches_a_query_layer_import(source):
    assert violations(source)


def test_type_only_and_allowed_imports_pass():
    source = (
        "from typing import TYPE_CHECKING\nimport dagster\n"
        "from polygon_pipeline.sync.windows import run_windows\n"
        "if TYPE_CHECKING:\n    from sqlalchemy import Engine\n"
    )
    assert violations(source) == []
