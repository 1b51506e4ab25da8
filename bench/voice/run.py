"""Voice benchmark: spoken questions streamed at real-time pace through the
edge to the five voice workers (each its own process, real packaged models,
real NATS), with 1 and with N concurrent sessions.

    python bench/voice/run.py [--sessions 1 4 8] [--rounds 4] [--slots 4] [--verbose]

The LLM is the model server on SWITCHBOARD_LLM_SERVER_URL; when none serves
there, one is started for the run with the default model and ``--slots``.

Prints end-of-speech -> first audio byte (p50/p95), per-stage latencies from
the events' own timestamps (vad: end of speech -> end-of-turn segment; stt:
segment -> final transcript, including any partial still being decoded;
retrieve; llm_first: context -> first delta; tts_first: first delta -> first
audio, which includes waiting for the first clause; tts_work: the delta that
completed that clause -> its audio), and STT/TTS real-time factors through the
workers (stt; tts_work) against the bare engines on the same audio (the
end-of-turn segments) and text (the first sentences) in the same run.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import websockets  # noqa: E402

from switchboard.bus import envelope  # noqa: E402
from switchboard.bus.nats.streams import drop  # noqa: E402
from switchboard.bus.servers import ensure_nats, free_port, port_open  # noqa: E402
from switchboard.workers.engines.llm import LLMSettings  # noqa: E402
from switchboard.workers.voice.tts import split  # noqa: E402
from tests.model_server import serving  # noqa: E402
from tests.voice_audio import speech_16k  # noqa: E402

# every turn of a run asks a question not asked before in it (the model
# server's prompt cache would otherwise skip the prefill of a repeat); the
# warm-up asks QUESTIONS[0]
QUESTIONS = [
    "How do I scale a worker?",
    "What happens when a worker crashes?",
    "How do I add my own documents?",
    "Which speech model does the assistant use?",
    "What is Switchboard?",
    "How do I start Switchboard on my laptop?",
    "How do I run the tests?",
    "Can I replay a conversation?",
    "Where does the assistant find its answers?",
    "Can I interrupt the assistant while it is talking?",
    "What does the analyst do?",
    "Which data can I ask the analyst about?",
    "What happens when the analyst's code fails?",
    "How do I cancel a long job?",
    "How do I follow the progress of a job?",
    "Which message bus does Switchboard use?",
    "Can I use Kafka instead of NATS?",
    "How do I point Switchboard at my NATS server?",
    "Which voice speaks the answers?",
    "What sample rate does the microphone send?",
    "What is barge-in?",
    "Does the analyst change my data?",
    "Can the assistant use an Ollama server?",
    "Why is every step a separate worker?",
    "How does the assistant know when I stopped speaking?",
    "Do I see partial transcripts while I speak?",
    "Does the analyst draw charts?",
    "How are the settings given?",
    "Can I compare two worker versions?",
    "What is a job id for?",
    "Are answers spoken before they are complete?",
    "What kinds of files can I ingest?",
    "Is anything done twice after a crash?",
    "What is the music model?",
    "Where is the conversation history kept?",
    "What does the retrieval worker do?",
    "Which score corpus can the analyst read?",
    "How are the analyst's queries limited?",
    "What does the edge server do?",
    "How many copies of each worker does make up start?",
    "What turns my speech into text?",
    "Can two people talk to the assistant at once?",
    "What happens if I hang up in the middle of an answer?",
    "Does Switchboard need a GPU?",
    "What is a dead letter?",
    "How do I see which workers are running?",
    "Can I ask follow-up questions?",
    "What happens to my question if NATS goes down?",
    "How do I stop Switchboard?",
    "Which language model writes the answers?",
    "Can I use the assistant from my own website?",
    "How long can a question be?",
    "What does the analyst show me besides the answer?",
]
LEAD_S, TAIL_S = 0.6, 2.5
WORKERS = ("vad", "stt", "retrieve", "llm", "tts")
OUTPUTS = ("transcript.", "speech.audio.")  # what stt and tts publish, after "{ns}.voice."


def _t(ev: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(ev["created_at"]).replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    """The q-quantile, interpolated between the two nearest values (p50 = median)."""
    s = sorted(values)
    at = q * (len(s) - 1)
    lo = int(at)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (at - lo)


async def session(url: str, question: str, bus_events: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    pcm = speech_16k(question, LEAD_S, TAIL_S)
    speech_end_offset = len(pcm) / 32_000 - TAIL_S
    async with websockets.connect(url, max_size=8_000_000) as ws:
        sid = json.loads(await ws.recv())["session_id"]
        bus_events[sid] = []
        first_audio: float | None = None
        done = asyncio.Event()

        async def receive() -> None:
            nonlocal first_audio
            async for raw in ws:
                ev = json.loads(raw)
                if ev["type"] == "voice.speech.audio" and first_audio is None and ev.get("pcm"):
                    first_audio = time.time()
                if ev["type"] == "voice.speech.audio" and ev.get("last"):
                    done.set()
                    return

        reader = asyncio.create_task(receive())
        start = time.time()
        for i, off in enumerate(range(0, len(pcm), 3200)):
            await ws.send(pcm[off : off + 3200])
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.1 - time.time()))
        await asyncio.wait_for(done.wait(), 180)
        reader.cancel()
    speech_end = start + speech_end_offset
    evs = bus_events[sid]

    def first(kind: str, **match: Any) -> float:
        return min(_t(e) for e in evs if e["type"] == kind and all(e.get(k) == v for k, v in match.items()))

    seg = first("voice.speech.segment", end_of_turn=True)
    final = first("voice.transcript", is_final=True)
    ctx = first("voice.context")
    delta = first("voice.answer.delta")
    audio = min(_t(e) for e in evs if e["type"] == "voice.speech.audio" and e.get("pcm"))
    segment = next(e for e in evs if e["type"] == "voice.speech.segment" and e["end_of_turn"])
    seg_audio_s = (segment["end_ms"] - segment["start_ms"]) / 1000
    first_sentence = next(e for e in evs if e["type"] == "voice.speech.audio" and e.get("pcm"))
    # the delta that completed the first clause: TTS starts from there
    deltas = sorted((e for e in evs if e["type"] == "voice.answer.delta"), key=lambda e: e["index"])
    text = ""
    for d in deltas:
        text += d["text"]
        if split(text, d["last"], first=True)[0]:
            trigger = _t(d)
            break
    first_audio_s = len(base64.urlsafe_b64decode(first_sentence["pcm"])) / 2 / first_sentence["sample_rate"]
    return {
        "e2e": (first_audio or audio) - speech_end,
        "vad": seg - speech_end,
        "stt": final - seg,
        "retrieve": ctx - final,
        "llm_first": delta - ctx,
        "tts_first": audio - delta,
        "tts_work": audio - trigger,
        "stt_rtf": (final - seg) / seg_audio_s,
        "tts_sentence": first_sentence["text"],
        "tts_rtf": (audio - trigger) / first_audio_s,
        "utterance_s": seg_audio_s,
        "tts_audio_s": first_audio_s,
        "segment_pcm": base64.urlsafe_b64decode(segment["pcm"]),
    }  # type: ignore[dict-item]


class Engines:
    """The bare STT and TTS engines, loaded in this process once."""

    def __init__(self) -> None:
        from switchboard.workers.engines.stt import WhisperSTT
        from switchboard.workers.engines.tts import PiperTTS

        self.stt, self.tts = WhisperSTT(), PiperTTS()
        self.stt.transcribe(speech_16k(QUESTIONS[0], 0, 0))  # warm-up
        self.tts.synthesize("Warming up.")

    def stt_s(self, pcm: bytes) -> float:
        return float(self.stt.transcribe(pcm).elapsed_s)

    def tts_s(self, text: str) -> float:
        return float(self.tts.synthesize(text).elapsed_s)


async def workers_vs_bare(
    nc: Any,
    ns: str,
    engines: Engines,
    results: list[dict[str, Any]],
    waiters: dict[str, asyncio.Future[float]],
) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds through each worker, the rest of the pipeline idle, and of the
    bare engine on the same input, taken in turn (so both see the same cache
    and CPU state): each end-of-turn segment (sent as a partial, so no answer
    follows) to stt, each first piece (as a whole answer) to tts."""
    from switchboard.bus import BusSettings
    from switchboard.bus.nats.jetstream import JetStreamPublisher
    from switchboard.schemas import AnswerDelta, SpeechSegment

    pub = JetStreamPublisher(nc, BusSettings(namespace=ns), "bench")

    async def timed(event: Any) -> float:
        done = waiters[event.correlation_id] = asyncio.get_running_loop().create_future()
        start = time.time()
        await pub.publish(event)
        try:
            return await asyncio.wait_for(done, 60) - start
        finally:
            del waiters[event.correlation_id]

    out: dict[str, tuple[list[float], list[float]]] = {"STT": ([], []), "TTS": ([], [])}
    for r in results:
        corr = f"iso-{uuid.uuid4().hex[:12]}"
        pcm, text = r["segment_pcm"], r["tts_sentence"]
        segment = SpeechSegment(
            correlation_id=corr, segment_id=corr, seq=0, start_ms=0, end_ms=len(pcm) // 32, pcm=pcm
        )
        answer = AnswerDelta(correlation_id=corr + "t", answer_id=corr, index=0, text=text, last=True)
        out["STT"][0].append(await timed(segment))
        out["STT"][1].append(await asyncio.to_thread(engines.stt_s, pcm))
        out["TTS"][0].append(await timed(answer))
        out["TTS"][1].append(await asyncio.to_thread(engines.tts_s, text))
    return out


BENCH_TOKEN = secrets.token_urlsafe(16)


def wait_for_port(port: int) -> None:
    while not port_open("127.0.0.1", port):
        time.sleep(0.5)


def spawn(ns: str, nats_url: str, port: int, llm_url: str) -> list[subprocess.Popen[bytes]]:
    """The five workers and the edge, each its own process, as `switchboard up` runs them."""
    env = {**os.environ, "SWITCHBOARD_NAMESPACE": ns, "SWITCHBOARD_NATS_URL": nats_url}
    env["SWITCHBOARD_LLM_SERVER_URL"] = llm_url
    env["SWITCHBOARD_EDGE_TOKEN"] = BENCH_TOKEN
    cli = [sys.executable, "-m", "switchboard.cli"]
    quiet = subprocess.DEVNULL
    procs = [subprocess.Popen([*cli, "worker", w], cwd=ROOT, env=env, stderr=quiet) for w in WORKERS]
    procs.append(subprocess.Popen([*cli, "edge", "--port", str(port)], cwd=ROOT, env=env, stderr=quiet))
    return procs


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--rounds", type=int, default=4, help="questions per session count")
    ap.add_argument("--slots", type=int, default=LLMSettings().slots, help="a model server started here")
    ap.add_argument("--verbose", action="store_true", help="print every turn")
    args = ap.parse_args()
    with serving(args.slots) as url:
        await run(args, url)


async def run(args: argparse.Namespace, llm_url: str) -> None:
    nats_url = os.environ.get("SWITCHBOARD_NATS_URL", "nats://127.0.0.1:4222")
    server = ensure_nats(nats_url)
    ns = "benchv" + uuid.uuid4().hex[:6]
    port = free_port()
    procs = spawn(ns, nats_url, port, llm_url)
    nc = await nats.connect(nats_url)
    bus_events: dict[str, list[dict[str, Any]]] = {}

    waiters: dict[str, asyncio.Future[float]] = {}

    async def record(msg: Any) -> None:
        corr = envelope.read(msg.headers).correlation_id
        if corr in bus_events:
            bus_events[corr].append(json.loads(msg.data))
        elif (
            corr in waiters and not waiters[corr].done() and msg.subject.split(".", 2)[2].startswith(OUTPUTS)
        ):
            waiters[corr].set_result(time.time())

    await nc.subscribe(f"{ns}.voice.>", cb=record)
    url = f"ws://127.0.0.1:{port}/ws?token={BENCH_TOKEN}"
    try:
        engines = await asyncio.to_thread(Engines)
        await asyncio.to_thread(wait_for_port, port)
        t = time.time()
        await session(url, QUESTIONS[0], bus_events)  # warm-up: every model loaded and used once
        print(f"warm-up turn (models loading) {time.time() - t:.1f} s")
        asked = 1
        for n in args.sessions:
            results: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                batch = [QUESTIONS[(asked + i) % len(QUESTIONS)] for i in range(n)]
                asked += n
                results += await asyncio.gather(*(session(url, q, bus_events) for q in batch))
            alone = await workers_vs_bare(nc, ns, engines, results, waiters)
            e2e = [r["e2e"] for r in results]
            if args.verbose:
                for r in results:
                    print(
                        f"  {r['e2e']:.2f} s  llm_first {r['llm_first']:.2f}  tts_first {r['tts_first']:.2f}  {r['tts_sentence']!r}"
                    )
            print(f"\n{n} concurrent session(s), {len(results)} turns")
            print(
                f"  end of speech -> first audio byte: p50 {pct(e2e, 0.5):.2f} s  p95 {pct(e2e, 0.95):.2f} s"
            )
            for stage in ("vad", "stt", "retrieve", "llm_first", "tts_first", "tts_work"):
                v = [r[stage] for r in results]
                print(f"  {stage:10} p50 {pct(v, 0.5) * 1000:6.0f} ms  p95 {pct(v, 0.95) * 1000:6.0f} ms")
            stt_w = statistics.median(r["stt_rtf"] for r in results)
            tts_w = statistics.median(r["tts_rtf"] for r in results)
            stt_b = statistics.median(
                b / r["utterance_s"] for b, r in zip(alone["STT"][1], results, strict=True)
            )
            tts_b = statistics.median(
                b / r["tts_audio_s"] for b, r in zip(alone["TTS"][1], results, strict=True)
            )
            print(
                f"  in the pipeline (stages share the cores): STT RTF {stt_w:.3f}, TTS RTF {tts_w:.3f}; "
                f"bare engines STT {stt_b:.3f}, TTS {tts_b:.3f}"
            )
            for name, (worker, bare) in alone.items():
                over = statistics.median(w / b - 1 for w, b in zip(worker, bare, strict=True))
                print(
                    f"  {name} through its worker alone: p50 {pct(worker, 0.5) * 1000:.0f} ms vs bare "
                    f"{pct(bare, 0.5) * 1000:.0f} ms on the same input (worker overhead {over:+.0%})"
                )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        js = nc.jetstream()
        await drop(js, ns)
        await nc.close()
        if server:
            server.terminate()


if __name__ == "__main__":
    asyncio.run(main())
