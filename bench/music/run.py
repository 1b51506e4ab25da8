"""Music benchmark: the pipeline's jobs through real NATS, each worker kind its
own process, on a fresh store.

    python bench/music/run.py [--pieces 200] [--minutes 10] [--samples 16]

Prints ingest (read + store + embed) and tokenize throughput in pieces/s,
each beside the bare engine functions on the same pieces in the same run;
training tokens/s on this CPU for a fixed time budget; the time to generate a
30-second piece; and the evaluation report of the model trained for that
budget against the real held-out pieces. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from switchboard.bus.config import BusSettings  # noqa: E402
from switchboard.bus.servers import ensure_nats  # noqa: E402
from switchboard.jobclient import run_job  # noqa: E402
from switchboard.schemas import JobStatus  # noqa: E402

WORKERS = (
    "jobs",
    "music-ingest",
    "music-embed",
    "music-tokenize",
    "music-train",
    "music-generate",
    "music-evaluate",
)


async def job(settings: BusSettings, kind: str, **params: Any) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    shown = [""]

    def show(st: JobStatus) -> None:
        if st.message != shown[0] and ("step" not in st.message or st.progress * 20 % 1 < 0.05):
            print(f"  [{kind} {st.state} {st.progress:4.0%}] {st.message}"[:160], file=sys.stderr)
            shown[0] = st.message

    done = await run_job(settings, kind, params, show)
    if done.state != "succeeded":
        raise SystemExit(f"{kind} {done.state}: {done.message}")
    return dict(done.result), time.perf_counter() - t0


def bare(collection: str, pieces: int) -> tuple[float, float]:
    """Seconds to read + embed, and to tokenize, the same pieces without the bus."""
    from switchboard.workers.music import features, ingest

    features.embed(["warm up"])  # the workers load their models at start too
    tok = features.tokenizer()
    t0 = time.perf_counter()
    made = []
    for item in ingest.pieces(collection, None, pieces):
        if isinstance(item, ingest.Skipped):
            continue
        data, p = item
        features.embed([p.description])
        made.append(data)
    read_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(made):
            paths.append(Path(tmp) / f"{i}.mid")
            paths[-1].write_bytes(data)
        t0 = time.perf_counter()
        for path in paths:
            features.tokenize(tok, path)
        return read_s, time.perf_counter() - t0


def spawn(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "switchboard.cli", "worker", w],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for w in WORKERS
    ]


async def main(args: argparse.Namespace) -> None:
    settings = BusSettings(namespace=f"bench{uuid.uuid4().hex[:8]}")
    server = ensure_nats(settings.nats_url, str(ROOT / ".switchboard" / "nats"))
    store = Path(tempfile.mkdtemp(prefix="music-bench-"))
    env = {
        **os.environ,
        **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.model_dump().items()},
        "SWITCHBOARD_MUSIC_DIR": str(store),
    }
    procs = spawn(env)
    figures: dict[str, Any] = {}
    try:
        await asyncio.sleep(8)  # imports; models load on first use and count below
        res, secs = await job(settings, "music.ingest", collection=args.collection, limit=args.pieces)
        n = int(res["pieces"])
        figures["ingest_pieces_per_s"] = n / secs
        _, secs_embed = await job(settings, "music.embed", clusters=args.clusters)
        res, secs_tok = await job(settings, "music.tokenize")
        figures["tokenize_pieces_per_s"] = int(res["pieces"]) / secs_tok
        figures["dataset"] = res
        read_s, tok_s = await asyncio.to_thread(bare, args.collection, args.pieces)
        figures["bare_ingest_pieces_per_s"] = n / read_s
        figures["bare_tokenize_pieces_per_s"] = n / tok_s
        figures["cluster_s"] = secs_embed
        res, secs = await job(
            settings,
            "music.train",
            max_steps=1_000_000,
            max_minutes=args.minutes,
            checkpoint_every=200,
        )
        figures["train"] = res
        times, lengths = [], []
        for seed in range(args.generations):
            res, secs = await job(
                settings, "music.generate", prompt=args.prompt, seconds=30.0, max_tokens=8192, seed=seed
            )
            times.append(secs)
            lengths.append(float(res["duration_s"]))
        figures["generate_30s_s"] = times
        figures["generated_lengths_s"] = lengths
        res, secs = await job(settings, "music.evaluate", samples=args.samples, max_tokens=1024)
        figures["evaluate"] = res
        figures["report"] = (store / "reports" / str(res["model_version"]) / "report.md").read_text()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        if server:
            server.terminate()
    print_figures(figures, args)


def print_figures(f: dict[str, Any], args: argparse.Namespace) -> None:
    t = f["train"]
    d = f["dataset"]
    print(f"\nmusic bench: {args.collection}, {d['pieces']} pieces, dataset {d['dataset_version']}")
    print(
        f"ingest (read+store+embed) {f['ingest_pieces_per_s']:.2f} pieces/s through workers "
        f"vs {f['bare_ingest_pieces_per_s']:.2f} bare (ratio {f['ingest_pieces_per_s'] / f['bare_ingest_pieces_per_s']:.2f})"
    )
    print(
        f"tokenize {f['tokenize_pieces_per_s']:.1f} pieces/s through the worker (dataset write and "
        f"music.tokens events included) vs {f['bare_tokenize_pieces_per_s']:.1f} bare "
        f"(ratio {f['tokenize_pieces_per_s'] / f['bare_tokenize_pieces_per_s']:.2f}); clustering {f['cluster_s']:.1f} s"
    )
    print(
        f"train {args.minutes:g} min: {t['steps']} steps, {t['tokens_per_s']:.0f} tokens/s, "
        f"{t['parameters']} parameters, loss {t['train_loss']}, valid loss {t['valid_loss']}"
    )
    g = f["generate_30s_s"]
    print(
        f"generate a 30 s piece: median {statistics.median(g):.1f} s (runs {', '.join(f'{x:.1f}' for x in g)}; "
        f"lengths {', '.join(f'{x:.0f}' for x in f['generated_lengths_s'])} s)"
    )
    e = f["evaluate"]
    print(f"evaluation: mean distance {e['mean_distance']} vs real-vs-real baseline {e['baseline_distance']}")
    print(
        f"  quality: {e['quality']:.0%} of the features within 2x the baseline + 0.1; failing {e['failing']}"
    )
    print(f["report"])
    print(json.dumps({k: v for k, v in f.items() if k != "report"}, default=str))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collection", default="bach")
    ap.add_argument("--pieces", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--prompt", default="a chorale by J.S. Bach in a minor key")
    asyncio.run(main(ap.parse_args()))
