"""The Grafana dashboard charts metrics the code exports, under their real names."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

import switchboard.bus.metrics  # noqa: F401  (the bus's metrics)
import switchboard.workers.engines.llm  # noqa: F401
import switchboard.workers.voice.stt  # noqa: F401
import switchboard.workers.voice.tts  # noqa: F401
from tests.helpers import ROOT


def test_every_panel_queries_an_exported_metric() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/switchboard.json").read_text())
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("switchboard_")
        for suffix in suffixes.get(family.type, ("",))
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(switchboard_[a-z_]+)", target["expr"])
    }
    assert used and used <= exported, sorted(used - exported)
