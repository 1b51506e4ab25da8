"""The topology, replay's inputs and the AsyncAPI document come from the workers."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.edge.clients import CLIENT_TYPES, WEBSOCKET_TYPES
from switchboard.schemas import EVENT_TYPES
from switchboard.streams.asyncapi import document
from switchboard.streams.topology import entry_subjects, hops, pipelines, readers
from switchboard.workers import REGISTRY, load


def test_every_registered_worker_is_a_hop_with_what_it_declares() -> None:
    by_name = {h.worker: h for h in hops()}
    assert set(by_name) == set(REGISTRY)
    for name, hop in by_name.items():
        worker = load(name)
        assert set(hop.inputs) == set(worker.subjects)
        assert set(hop.outputs) == set(worker.outputs)
    # what the hand-written map got wrong
    assert "voice.answer" not in by_name["tts"].inputs
    assert "voice.cancel" in by_name["vad"].outputs
    assert "analyst.result" in by_name["codegen"].outputs
    assert readers("voice.answer") == []
    assert set(pipelines()) == {"voice", "analyst", "music", "jobs"}


def test_everything_a_worker_reads_has_a_writer() -> None:
    written = {s for h in hops() for s in h.outputs} | CLIENT_TYPES
    for hop in hops():
        for subject in hop.inputs:
            assert subject in written, f"{hop.worker} reads {subject}, which nothing writes"


def test_replay_inputs_are_what_comes_from_outside_each_pipeline() -> None:
    entries = entry_subjects()
    assert entries["voice"] == ("voice.audio.chunk", "voice.cancel", "voice.transcript")
    # its workers stop cancelled jobs and take users' verdicts
    assert entries["analyst"] == ("analyst.feedback", "analyst.question", "jobs.cancel")
    assert entries["jobs"] == ("jobs.cancel", "jobs.submitted")
    assert "music.train.request" in entries["music"] and "music.midi.raw" not in entries["music"]


def test_clients_may_send_only_entry_events() -> None:
    assert WEBSOCKET_TYPES <= CLIENT_TYPES
    assert "jobs.status" not in CLIENT_TYPES and "voice.answer.delta" not in CLIENT_TYPES
    assert "music.train.request" not in WEBSOCKET_TYPES  # training is a job, with its checks


def test_asyncapi_document_names_every_subject_and_operation() -> None:
    doc = document("ns", 4)
    assert doc["asyncapi"].startswith("3.")
    subjects = {s for h in hops() for s in (*h.inputs, *h.outputs)}
    assert subjects <= set(doc["channels"])
    assert doc["channels"]["voice.transcript"]["address"] == "ns.voice.transcript.{partition}"
    ops = doc["operations"]
    assert ops["tts.receive.voice.answer.delta"]["action"] == "receive"
    assert ops["vad.send.voice.cancel"]["channel"] == {"$ref": "#/channels/voice.cancel"}
    assert "tts.receive.voice.answer" not in ops
    schemas = doc["components"]["schemas"]
    for channel in doc["channels"].values():
        [ref] = channel["messages"].values()
        message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
        assert message["payload"]["$ref"].rsplit("/", 1)[1] in schemas
        assert message["name"] in EVENT_TYPES


def test_asyncapi_command_prints_the_document() -> None:
    result = CliRunner().invoke(app, ["asyncapi", "--namespace", "docs"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["channels"]["analyst.question"]["address"].startswith("docs.")
