"""The music pipeline as jobs on real NATS: ingest -> embed -> tokenize ->
train (checkpoints, resume, cancel) -> generate -> evaluate, with real models
(MiniLM, miditok, a GPT-2 trained from scratch) and the real music21 corpus."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pretty_midi
import pytest

from switchboard.bus import BusSettings
from switchboard.bus.nats.streams import read
from switchboard.schemas import JobStatus, MidiRaw, PieceMeta
from tests.integration.test_music_ingest import _midi
from tests.music_stack import job, music_stack

pytestmark = [pytest.mark.slow, pytest.mark.nats]


@pytest.fixture
async def stack(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Path]:
    async with music_stack(nats_settings, tmp_path / "music", monkeypatch):
        yield tmp_path / "music"


async def _raw(settings: BusSettings, subject: str) -> list[bytes]:
    nc = await nats.connect(settings.nats_url)
    try:
        return [r.data for r in await read(nc.jetstream(), settings.namespace, subject)]
    finally:
        await nc.close()


async def _events(settings: BusSettings, subject: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(d) for d in await _raw(settings, subject)]


async def test_corpus_to_model_to_midi_and_report(nats_settings: BusSettings, stack: Path) -> None:
    s = nats_settings
    done, seen = await job(s, "music.ingest", collection="bach", limit=24)
    assert done.state == "succeeded" and done.result["pieces"] == 24, done
    assert any(x.state == "running" and x.progress > 0 for x in seen)
    assert len(await _events(s, "music.midi.raw")) == 24
    assert len(await _events(s, "music.embeddings")) == 24
    assert len(list((stack / "pieces").glob("*.mid"))) == 24

    done, _ = await job(s, "music.embed", clusters=3)
    assert done.state == "succeeded" and done.result["clusters"] == 3, done

    done, _ = await job(s, "music.tokenize")
    assert done.state == "succeeded", done
    version = str(done.result["dataset_version"])
    tokens = await _events(s, "music.tokens")
    assert len(tokens) == done.result["pieces"] > 20
    assert {t["dataset_version"] for t in tokens} == {version}
    assert {t["split"] for t in tokens} >= {"train", "test"}
    again, _ = await job(s, "music.tokenize")
    assert again.result["dataset_version"] == version  # same data, same version

    done, seen = await job(s, "music.train", max_steps=20, checkpoint_every=10, n_embd=64, context=128)
    assert done.state == "succeeded", done
    model = str(done.result["model_version"])
    assert any("loss" in x.message and x.state == "running" for x in seen)
    checkpoints = [e for e in await _events(s, "music.model") if e["model_version"] == model]
    assert [c["step"] for c in checkpoints if not c["final"]] == [10, 20]
    assert checkpoints[-1]["final"] and checkpoints[-1]["valid_loss"] is not None
    assert (stack / "models" / model / "loss.png").stat().st_size > 1000

    resumed, _ = await job(s, "music.train", resume=model, max_steps=30)
    assert resumed.state == "succeeded" and resumed.result["model_version"] == model, resumed
    assert resumed.result["steps"] == 30

    done, _ = await job(s, "music.generate", prompt="a chorale by J.S. Bach", max_tokens=256, seed=1)
    assert done.state == "succeeded", done
    midi = (stack / "generated" / Path(str(done.result["midi_url"])).name).read_bytes()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    assert sum(len(i.notes) for i in pm.instruments) == done.result["notes"] > 0
    (generated,) = await _events(s, "music.generated")
    assert generated["note_count"] == done.result["notes"] and generated["piano_roll"]
    assert generated["understood"].startswith("no tempo, key")  # the prompt named none

    # what a prompt states is understood and written into the piece; an impossible value is named
    prompt = "a waltz in D major at 90 bpm for violin, or at 900 bpm"
    done, _ = await job(s, "music.generate", prompt=prompt, max_tokens=256, seed=2, candidates=2)
    assert done.state == "succeeded", done
    assert done.result["time_signature"] == "3/4" and done.result["tempo_bpm"] == 90.0
    assert done.result["key"] == "D major" and done.result["instruments"] == "violin"
    assert done.result["TSM"] is True and done.result["TB"] is True and done.result["IM"] is True
    assert "not understood" not in str(done.result["understood"])  # the first tempo stated wins
    pm = pretty_midi.PrettyMIDI(
        io.BytesIO((stack / "generated" / Path(str(done.result["midi_url"])).name).read_bytes())
    )
    assert round(pm.get_tempo_changes()[1][0], 3) == 90.0 and pm.time_signature_changes[0].numerator == 3
    assert {i.program for i in pm.instruments} == {40}

    # a length asked for: the piece has it (within 10 %), or the job says the model cannot make it yet
    done, _ = await job(s, "music.generate", prompt="a hymn", max_tokens=256, seed=4, seconds=6)
    if done.state == "succeeded":
        assert 5.4 <= float(done.result["duration_s"]) <= 6.6, done
    else:
        assert "train it longer, or ask for less" in done.message, done

    done, _ = await job(s, "music.evaluate", samples=2, max_tokens=128, baseline=True)
    assert done.state == "succeeded", done
    report = json.loads((stack / "reports" / model / "report.json").read_text())
    assert report["generated"] == 2 and report["real"] >= 1
    for name in ("note_density", "pitch_class_entropy", "polyphony", "velocity_mean", "tempo_changes"):
        assert report["features"][name]["distance"] >= 0
    assert 0 <= report["quality"] <= 1 and set(report["failing"]) <= set(report["features"])
    md = (stack / "reports" / model / "report.md").read_text()
    assert "| pitch_range |" in md and "Quality" in md and "| passes |" in md
    # adherence to what the prompts (the held-out pieces' descriptions) state, beside the real pieces
    adherence = report["adherence"]
    assert adherence["real"]["TB"] == 1.0 and adherence["real"]["TSM"] == 1.0  # a piece meets its own
    assert adherence["generated"]["TB"] == 1.0 and 0 <= adherence["generated"]["CK"] <= 1
    assert 0 <= adherence["model"]["CK"] <= adherence["generated"]["CK"]  # the key move only helps
    assert adherence["unconditioned"]["CK_n"] >= 1  # the same prompts with every attribute unspecified
    assert "## Adherence to the prompt" in md and "| TB |" in md
    assert (stack / "reports" / model / "features.png").stat().st_size > 1000


async def test_bad_files_and_bad_requests_fail_clearly(
    nats_settings: BusSettings, stack: Path, tmp_path: Path
) -> None:
    s = nats_settings
    folder = tmp_path / "mine"
    folder.mkdir()
    _midi(folder / "good.mid")
    _midi(folder / "silent.mid", notes=0)
    _midi(folder / "absurd.mid", tempo=2000)
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    done, seen = await job(s, "music.ingest", folder=str(folder))
    assert done.state == "succeeded" and done.result["pieces"] == 1 and done.result["skipped"] == 3
    reasons = " | ".join(x.message for x in seen)
    assert "no notes" in reasons and "tempo" in reasons and "unreadable" in reasons

    # a broken piece straight onto music.midi.raw: reported, nothing crashes
    from switchboard.bus.nats.jetstream import JetStreamPublisher

    nc = await nats.connect(s.nats_url)
    await JetStreamPublisher(nc, s, "test@1").publish(
        MidiRaw(
            correlation_id="raw-1", piece_id="bad", source="x", midi=b"MThdjunk", meta=PieceMeta(), last=True
        )
    )
    await nc.close()
    for _ in range(50):
        statuses = [JobStatus.model_validate_json(d) for d in await _raw(s, "jobs.status")]
        if any(x.correlation_id == "raw-1" and x.state == "succeeded" for x in statuses):
            break
        await asyncio.sleep(0.2)
    assert any(x.correlation_id == "raw-1" and "unreadable" in x.message for x in statuses)

    for kind, params, words in [
        ("music.ingest", {"collection": "no-such-composer"}, "no music21 corpus collection"),
        ("music.ingest", {"folder": str(tmp_path / "nope")}, "not a folder"),
        ("music.ingest", {"folder": "/root"}, "outside the folders ingest may read"),
        ("music.ingest", {"folder": str(tmp_path / ".." / "..")}, "outside the folders ingest may read"),
        ("music.train", {"max_minutes": 7 * 24 * 60}, "over the limits"),
        ("music.train", {"n_layer": 24}, "over the limits"),
        ("music.train", {"max_steps": -3}, "bad parameters"),
        ("music.train", {"layers": 3}, "unknown params"),
        ("music.tokenize", {}, "music embed"),
        ("music.generate", {"prompt": "anything"}, "no model"),
    ]:
        done, _ = await job(s, kind, **params)
        assert done.state == "failed" and words in done.message, (kind, done)


async def _cancel_midway(
    s: BusSettings, kind: str, params: dict[str, object], when: Callable[[JobStatus], bool]
) -> JobStatus:
    """Run a job and cancel it at the first status ``when`` holds for; its last status."""
    from switchboard.bus.nats.jetstream import JetStreamPublisher
    from switchboard.jobclient import run_job
    from switchboard.schemas import JobCancel

    nc = await nats.connect(s.nats_url)
    publisher = JetStreamPublisher(nc, s, "test@1")
    sent: list[asyncio.Task[None]] = []

    def cancel_when(st: JobStatus) -> None:
        if when(st) and not sent:
            sent.append(
                asyncio.get_running_loop().create_task(
                    publisher.publish(JobCancel(correlation_id=st.correlation_id))
                )
            )

    try:
        return await run_job(s, kind, params, cancel_when)
    finally:
        await asyncio.gather(*sent)
        await nc.close()


async def _nothing_after_cancel(s: BusSettings, job_id: str) -> None:
    """No status for the job after its "cancelled" (given its workers a moment to misbehave)."""
    await asyncio.sleep(2.0)
    states = [e["state"] for e in await _events(s, "jobs.status") if e["correlation_id"] == job_id]
    assert "cancelled" in states and states[states.index("cancelled") + 1 :] == [], states


async def test_every_music_step_stops_on_cancel(nats_settings: BusSettings, stack: Path) -> None:
    s = nats_settings
    # ingest: cancelled after its first pieces, long before its limit
    last = await _cancel_midway(
        s, "music.ingest", {"collection": "bach", "limit": 400}, lambda st: st.progress > 0
    )
    assert last.state == "cancelled"
    await _nothing_after_cancel(s, last.correlation_id)
    assert len(list((stack / "pieces").glob("*.mid"))) < 400
    assert await job(
        s, "music.ingest", collection="bach", limit=24
    )  # enough for a test split[0].state == "succeeded"
    assert (await job(s, "music.embed", clusters=2))[0].state == "succeeded"
    assert (await job(s, "music.tokenize"))[0].state == "succeeded"

    # training stops at its next step and keeps what it learnt
    last = await _cancel_midway(
        s, "music.train", {"max_steps": 100_000, "n_embd": 32, "context": 64}, lambda st: "step" in st.message
    )
    assert last.state == "cancelled"
    for _ in range(100):
        final = [
            e
            for e in await _events(s, "music.model")
            if e["final"] and e["correlation_id"] == last.correlation_id
        ]
        if final:
            break
        await asyncio.sleep(0.2)
    assert final and final[0]["step"] < 1000
    assert (Path(final[0]["path"]) / "config.json").exists()
    await _nothing_after_cancel(s, last.correlation_id)

    # generation stops within a chunk of tokens and hands out no piece
    last = await _cancel_midway(
        s,
        "music.generate",
        {"prompt": "a chorale", "max_tokens": 8192, "seed": 3},
        lambda st: st.progress > 0,
    )
    assert last.state == "cancelled"
    await _nothing_after_cancel(s, last.correlation_id)
    assert [
        e for e in await _events(s, "music.generated") if e["correlation_id"] == last.correlation_id
    ] == []

    # evaluation stops within a sample and writes no report for the job
    last = await _cancel_midway(
        s, "music.evaluate", {"samples": 64, "max_tokens": 512}, lambda st: st.message.startswith("sample")
    )
    assert last.state == "cancelled", last
    await _nothing_after_cancel(s, last.correlation_id)


async def test_cli_steps_are_jobs(nats_settings: BusSettings, stack: Path) -> None:
    import os
    import sys

    env = {
        **os.environ,
        **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in nats_settings.model_dump().items()},
    }

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "switchboard.cli",
            "music",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await cli("ingest", "--collection", "bach", "--limit", "3")
    assert code == 0, err
    assert json.loads(out)["pieces"] == 3 and "[succeeded 100%]" in err
    code, out, err = await cli("generate", "a fugue")
    assert code == 2 and "music.generate failed" in err and "music train" in err
    # seed 004's main.py: named steps in pipeline order, a summary, stop at the first failure
    code, out, err = await cli("run", "tokenize", "embed", "--clusters", "2")
    assert code == 0, err
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["embed", "succeeded"],
        ["tokenize", "succeeded"],
    ]
    code, out, err = await cli("run", "generate", "evaluate", "--prompt", "a fugue")
    assert code == 2, err
    summary = [line.split()[:2] for line in out.splitlines()]
    assert summary == [["generate", "failed"], ["evaluate", "not"]], out
    code, out, err = await cli("run", "compose")
    assert code == 2 and "unknown step compose" in err
