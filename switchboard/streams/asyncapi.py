"""An AsyncAPI 3.0 document of the bus, built from the registered workers.

Channels are the subjects (one per event type, with its JSON schema), and each
worker kind has a receive operation per subject it reads and a send operation
per subject it emits. ``switchboard asyncapi`` prints it; the edge serves it at
``/asyncapi.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from switchboard.bus.subjects import DEAD
from switchboard.edge.clients import CLIENT_TYPES
from switchboard.schemas import EVENT_TYPES

from .topology import hops

REF = "#/components/schemas/{model}"
DESCRIPTIONS = {DEAD: "Any worker's input it could not handle, with the original bytes and the error."}


def document(namespace: str = "sb", partitions: int = 8, version: str = "0.1.0") -> dict[str, Any]:
    """The document for one namespace's subjects."""
    used = sorted({s for h in hops() for s in (*h.inputs, *h.outputs)} | CLIENT_TYPES | {DEAD})
    types = [EVENT_TYPES[s] for s in used]
    refs, defs = models_json_schema([(t, "validation") for t in types], ref_template=REF)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for subject, model in zip(used, types, strict=True):
        name = model.__name__
        messages[name] = {
            "name": subject,
            "title": name,
            "summary": (model.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/json",
            "payload": refs[(model, "validation")],
        }
        channels[subject] = {
            "address": f"{namespace}.{subject}.{{partition}}",
            "description": DESCRIPTIONS.get(
                subject, "Published by clients through the edge." if subject in CLIENT_TYPES else ""
            ),
            "parameters": {
                "partition": {
                    "description": f"0..{partitions - 1}: a stable hash of the event's correlation id"
                }
            },
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    operations: dict[str, Any] = {}
    for hop in hops():
        for action, subjects in (("receive", hop.inputs), ("send", hop.outputs)):
            for subject in subjects:
                operations[f"{hop.worker}.{action}.{subject}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{subject}"},
                    "summary": f"{hop.worker} ({hop.pipeline}) {'reads' if action == 'receive' else 'emits'}"
                    f" {subject}",
                    "tags": [{"name": hop.pipeline}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard bus",
            "version": version,
            "description": "Events between the edge and the workers, one subject per event type,"
            " partitioned by correlation id.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs.get("$defs", {})},
    }
