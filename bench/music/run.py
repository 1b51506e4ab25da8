"""Music benchmark: the pipeline's jobs through real NATS, each worker kind its
own process, on a fresh store.

    python bench/music/run.py [--collections bach:400,essenFolksong:600,...]
                              [--minutes 15] [--samples 48]

Prints:
- corpus conversion in pieces/s: one process without a cache (the way it was
  done before), one process per core, and again from the cache, on the same
  pieces in the same run;
- ingest (read + store + embed) and tokenize throughput through the workers;
- training tokens/s (padding left out) on this CPU for a fixed time budget;
- the time to generate a 30-second piece;
- the evaluation report of the model trained for that budget: adherence (TB,
  TBT, CK, CKD, TSM, IM) on prompts written from the metadata of held-out
  pieces, beside the real pieces against their own (the ceiling), and the
  feature distances to the real pieces.
Figures only; nothing is asserted.
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


def conversion(collection: str, pieces: int) -> dict[str, float]:
    """Pieces/s of corpus conversion + metadata: one process uncached, every core
    uncached, then from the cache that pass wrote."""
    from switchboard.workers.music import ingest

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cache, workers in (
            ("one_process", None, 1),
            ("all_cores", Path(tmp), None),
            ("cached", Path(tmp), None),
        ):
            t0 = time.perf_counter()
            n = sum(
                not isinstance(x, ingest.Skipped)
                for x in ingest.pieces(collection, None, pieces, cache, workers)
            )
            out[name] = n / (time.perf_counter() - t0)
    return out


def bare_tokenize(store: Path, pieces: int) -> float:
    """Pieces/s of miditok alone on stored pieces."""
    from switchboard.workers.music import features

    tok = features.tokenizer()
    paths = sorted((store / "pieces").glob("*.mid"))[:pieces]
    t0 = time.perf_counter()
    for path in paths:
        features.tokenize(tok, path)
    return len(paths) / (time.perf_counter() - t0)


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
    figures: dict[str, Any] = {"collections": args.collections}
    try:
        first, first_limit = args.collections.split(",")[0].split(":")
        figures["conversion"] = await asyncio.to_thread(conversion, first, min(int(first_limit), 200))
        await asyncio.sleep(2)
        n, secs = 0, 0.0
        for part in args.collections.split(","):
            name, limit = part.split(":")
            res, took = await job(settings, "music.ingest", collection=name, limit=int(limit))
            n, secs = n + int(res["pieces"]), secs + took
        figures["ingest_pieces_per_s"] = n / secs
        # the first collection again: converted pieces come from the cache, the workers' own rate
        res, took = await job(settings, "music.ingest", collection=first, limit=int(first_limit))
        figures["ingest_cached_pieces_per_s"] = int(res["pieces"]) / took
        _, figures["cluster_s"] = await job(settings, "music.embed", clusters=args.clusters)
        res, secs_tok = await job(settings, "music.tokenize")
        figures["tokenize_pieces_per_s"] = int(res["pieces"]) / secs_tok
        figures["dataset"] = res
        figures["bare_tokenize_pieces_per_s"] = await asyncio.to_thread(bare_tokenize, store, 300)
        res, secs = await job(
            settings,
            "music.train",
            max_steps=200_000,
            max_minutes=args.minutes,
            checkpoint_every=500,
        )
        figures["train"] = json.loads(
            (store / "models" / str(res["model_version"]) / "train.json").read_text()
        )
        times, lengths = [], []
        for seed in range(args.generations):
            res, secs = await job(
                settings, "music.generate", prompt=args.prompt, seconds=30.0, max_tokens=8192, seed=seed
            )
            times.append(secs)
            lengths.append(float(res["duration_s"]))
        figures["generate_30s_s"] = times
        figures["generated_lengths_s"] = lengths
        res, secs = await job(
            settings, "music.evaluate", samples=args.samples, max_tokens=1024, baseline=True
        )
        report = store / "reports" / str(res["model_version"])
        figures["evaluate"] = json.loads((report / "report.json").read_text())
        figures["evaluate_s"] = secs
        figures["report"] = (report / "report.md").read_text()
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
    c = f["conversion"]
    print(f"\nmusic bench: {f['collections']}; {d['pieces']} pieces, dataset {d['dataset_version']}")
    print(
        f"corpus conversion: {c['one_process']:.1f} pieces/s in one process without a cache, "
        f"{c['all_cores']:.1f} on every core (ratio {c['all_cores'] / c['one_process']:.2f}), "
        f"{c['cached']:.1f} from the cache (ratio {c['cached'] / c['one_process']:.2f})"
    )
    print(
        f"ingest (convert+read+store+embed) {f['ingest_pieces_per_s']:.2f} pieces/s through the workers; "
        f"{f['ingest_cached_pieces_per_s']:.2f} again from the cache"
    )
    print(
        f"tokenize (attributes of new pieces + tokens + dataset write + music.tokens events) "
        f"{f['tokenize_pieces_per_s']:.1f} pieces/s through the worker; miditok alone "
        f"{f['bare_tokenize_pieces_per_s']:.1f}; clustering {f['cluster_s']:.1f} s"
    )
    print(
        f"train {args.minutes:g} min on {t.get('threads')} threads: {t['steps']} steps, "
        f"{t['tokens_per_s']:.0f} tokens/s (padding left out), {t['parameters']} parameters, "
        f"loss {t['train_loss']}, valid loss {t['valid_loss']}"
    )
    g = f["generate_30s_s"]
    print(
        f"generate a 30 s piece (job round trip): median {statistics.median(g):.1f} s "
        f"(runs {', '.join(f'{x:.1f}' for x in g)}; lengths {', '.join(f'{x:.0f}' for x in f['generated_lengths_s'])} s)"
    )
    e = f["evaluate"]
    print(f"evaluation ({e['generated']} prompts, {f['evaluate_s']:.0f} s):")
    print(f"  mean feature distance {e['mean_distance']} vs real-vs-real baseline {e['baseline_distance']}")
    print(
        f"  quality: {e['quality']:.0%} of the features within 2x the baseline + 0.1; failing {e['failing']}"
    )
    ad = e["adherence"]
    for m in ("CK", "CKD"):
        own, plain = ad["model"].get(m), ad["unconditioned"].get(m)
        if own is not None and plain:
            print(
                f"  {m} of the model's own notes: {own:.0%} with the attribute tokens vs {plain:.0%} without (ratio {own / plain:.2f})"
            )
    print(f["report"])
    print(json.dumps({k: v for k, v in f.items() if k != "report"}, default=str))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--collections",
        default="bach:400,essenFolksong:600,oneills1850:400,palestrina:200",
        help="music21 corpus collections with how many pieces of each",
    )
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--samples", type=int, default=48, help="prompts (one held-out piece's metadata each)")
    ap.add_argument("--prompt", default="a chorale by J.S. Bach in a minor key")
    asyncio.run(main(ap.parse_args()))
