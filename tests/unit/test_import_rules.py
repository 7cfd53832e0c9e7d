"""The layers' import rules, read from the source: domain and ports know no adapter, AWS, HTTP or
CLI; only the DynamoDB adapter and the composition root import PynamoDB or that adapter; the
service names no adapter outside its factory; no route or page reads the catalog itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "artifactstore"
COMPOSITION_ROOT = "service/factory.py"
# Every module name an import statement names, at any depth (lazy imports included).
Imports = dict[str, set[str]]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> Imports:
    return {
        str(path.relative_to(PACKAGE)): _imports(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if "templates" not in path.parts
    }


def _offenders(modules: Imports, where: str, forbidden: str) -> list[str]:
    pattern = re.compile(forbidden)
    return sorted(
        f"{name}: {imported}"
        for name, imported_names in modules.items()
        if name.startswith(where)
        for imported in imported_names
        if pattern.match(imported)
    )


def test_the_rules_see_the_imports_they_judge() -> None:
    modules = _modules()
    assert "pynamodb.models" in modules["adapters/dynamodb/models.py"]
    assert "artifactstore.adapters.dynamodb.catalog" in modules[COMPOSITION_ROOT]
    assert "artifactstore.ports.catalog.Catalog" in modules["service/context.py"]


@pytest.mark.parametrize(
    ("where", "forbidden"),
    [
        ("domain/", r"artifactstore\.(adapters|service|api|cli|client|ports|settings)\b"),
        ("domain/", r"(boto3|botocore|pynamodb|fastapi|starlette|typer|httpx|mangum)\b"),
        ("ports/", r"artifactstore\.(adapters|service|api|cli|client|settings)\b"),
        ("ports/", r"(boto3|botocore|pynamodb|fastapi|typer|httpx)\b"),
        ("service/", r"(pynamodb|fastapi|starlette|typer|httpx)\b"),
        ("api/", r"(pynamodb|boto3)\b|artifactstore\.adapters\.(dynamodb|s3)\b"),
    ],
)
def test_a_layer_imports_nothing_above_or_beside_it(where: str, forbidden: str) -> None:
    assert _offenders(_modules(), where, forbidden) == []


def test_only_the_adapter_and_the_composition_root_touch_dynamodb() -> None:
    modules = {
        name: imported
        for name, imported in _modules().items()
        if not name.startswith("adapters/dynamodb/") and name != COMPOSITION_ROOT
    }
    assert _offenders(modules, "", r"pynamodb\b|artifactstore\.adapters\.dynamodb\b") == []


def test_the_service_names_adapters_only_in_its_composition_root() -> None:
    modules = {name: i for name, i in _modules().items() if name != COMPOSITION_ROOT}
    assert _offenders(modules, "service/", r"artifactstore\.adapters\b") == []


def test_no_route_or_page_reads_the_catalog() -> None:
    reads = sorted(
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in (PACKAGE / "api").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.catalog\b", line)
    )
    assert reads == []
