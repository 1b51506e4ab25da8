"""The house rules that keep the broker behind one seam."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "switchboard"
BROKER_CLIENTS = {"nats", "aiokafka", "faststream"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_only_bus_imports_broker_clients() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {sorted(_imports(path) & BROKER_CLIENTS)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "bus" and _imports(path) & BROKER_CLIENTS
    ]
    assert offenders == [], "talk to the bus through bus.transport"


def test_only_the_transport_factory_reads_the_broker_setting() -> None:
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "node_modules" in rel.parts:
            continue
        if ".broker ==" in path.read_text() or "isinstance(broker, KafkaBroker)" in path.read_text():
            readers.append(str(rel))
    assert readers == [], readers  # transport(settings) picks the broker, in bus/transport.py
