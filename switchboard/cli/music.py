"""The music pipeline, step by step: each step a job on the bus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from switchboard.schemas.music import TrainRequest

from .apps import music_app
from .common import Namespace, fail, on_bus, settings_for

TR = TrainRequest


def _job(kind: str, params: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    """Submit a job, print its progress until it ends; its result, or exit 2."""
    status = _follow(kind, params, namespace)
    if status.state != "succeeded":
        fail(f"{kind} {status.state}: {status.message}")
    return dict(status.result)


def _checked(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params the job's request event accepts (None: the schema's default),
    validated here against that schema: a bad value is an error before anything is sent."""
    from pydantic import ValidationError

    from switchboard.workers.jobs import job_kinds

    fields = {k: v for k, v in params.items() if v is not None}
    try:
        job_kinds()[kind].starts.model_validate({**fields, "correlation_id": "cli"})
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"{kind}: {'.'.join(map(str, e['loc']))}: {e['msg']}")
    return fields


def _default(request: Any, name: str) -> str:
    return f"default {request.model_fields[name].default}"


def _follow(kind: str, params: dict[str, Any], namespace: str | None = None) -> Any:
    """Submit a job and print its progress until it ends; its last JobStatus."""
    params = _checked(kind, params)
    from ..jobclient import run_job

    settings = settings_for(namespace)
    shown: list[str] = [""]

    def show(st: Any) -> None:
        line = f"[{st.state} {int(st.progress * 100):3d}%] {st.message}".rstrip()
        if line != shown[0]:
            typer.echo(line, err=True)
            shown[0] = line

    def silent() -> None:
        if shown[0]:  # a step that hands work on waits for the next worker kind
            typer.echo("no progress for a while: are all the pipeline's workers running?", err=True)
        else:
            typer.echo("no word from any worker yet: is `switchboard up` running?", err=True)

    try:
        return on_bus(settings, run_job(settings, kind, params, show, silent))
    except KeyboardInterrupt:
        fail(f"{kind} cancelled")


@music_app.command("ingest")
def music_ingest(
    collection: Annotated[
        str | None,
        typer.Option(
            help="music21 corpus collections, comma-separated: bach,essenFolksong,oneills1850,palestrina"
        ),
    ] = None,
    folder: Annotated[Path | None, typer.Option(help="A folder of your .mid files")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many pieces (of each collection)")] = 200,
    namespace: Namespace = None,
) -> None:
    """Read pieces (MIDI + metadata + description) onto the bus; the embed worker stores them."""
    if (collection is None) == (folder is None):
        fail("give one of --collection or --folder")
    if folder is not None and not folder.is_dir():
        fail(f"{folder} is not a folder")
    params = {"collection": collection, "folder": str(folder.resolve()) if folder else None, "limit": limit}
    typer.echo(json.dumps(_job("music.ingest", params, namespace)))


@music_app.command("embed")
def music_embed(
    clusters: Annotated[int, typer.Option(min=1, max=256, help="k-means clusters (semantic tokens)")] = 8,
    namespace: Namespace = None,
) -> None:
    """Embed the descriptions (MiniLM) and cluster them: the semantic tokens."""
    typer.echo(json.dumps(_job("music.embed", {"clusters": clusters}, namespace)))


@music_app.command("tokenize")
def music_tokenize(namespace: Namespace = None) -> None:
    """REMI-tokenize every clustered piece into a new versioned dataset (train/valid/test)."""
    typer.echo(json.dumps(_job("music.tokenize", {}, namespace)))


@music_app.command("train")
def music_train(
    dataset: Annotated[str | None, typer.Option(help="Dataset version (default: the newest)")] = None,
    resume: Annotated[str | None, typer.Option(help="A model version to continue")] = None,
    steps: Annotated[
        int | None, typer.Option(help=f"Total optimizer steps ({_default(TR, 'max_steps')})")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help=f"Time budget ({_default(TR, 'max_minutes')})")
    ] = None,
    layers: Annotated[int | None, typer.Option(help=_default(TR, "n_layer"))] = None,
    heads: Annotated[int | None, typer.Option(help=_default(TR, "n_head"))] = None,
    width: Annotated[
        int | None, typer.Option(help=f"Embedding size, n_embd ({_default(TR, 'n_embd')})")
    ] = None,
    context: Annotated[int | None, typer.Option(help=_default(TR, "context"))] = None,
    batch: Annotated[int | None, typer.Option(help=_default(TR, "batch_size"))] = None,
    lr: Annotated[float | None, typer.Option(help=f"Learning rate ({_default(TR, 'learning_rate')})")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help=_default(TR, "checkpoint_every"))] = None,
    namespace: Namespace = None,
) -> None:
    """Train a small GPT-2 from scratch on CPU (checkpoints, resumable, loss plot)."""
    params = {
        "dataset_version": dataset,
        "resume": resume,
        "max_steps": steps,
        "max_minutes": minutes,
        "n_layer": layers,
        "n_head": heads,
        "n_embd": width,
        "context": context,
        "batch_size": batch,
        "learning_rate": lr,
        "checkpoint_every": checkpoint_every,
    }
    typer.echo(json.dumps(_job("music.train", params, namespace)))


@music_app.command("generate")
def music_generate(
    prompt: Annotated[str, typer.Argument(help='What to play, e.g. "a slow chorale in G minor"')],
    out: Annotated[Path | None, typer.Option(help="Write the MIDI here")] = None,
    seconds: Annotated[float | None, typer.Option(min=1, max=600, help="Stop once this long")] = None,
    max_tokens: Annotated[int, typer.Option(min=16, max=8192)] = 1024,
    temperature: Annotated[float, typer.Option(min=0.05, max=2.0)] = 1.0,
    top_p: Annotated[float, typer.Option(min=0.05, max=1.0, help="Nucleus sampling (1: none)")] = 0.95,
    model: Annotated[str | None, typer.Option(help="Model version (default: the newest)")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    candidates: Annotated[
        int, typer.Option(min=1, max=8, help="Sample this many, keep the one that meets the prompt best")
    ] = 1,
    namespace: Namespace = None,
) -> None:
    """Text prompt -> nearest semantic cluster -> sampled tokens -> a MIDI file
    with the tempo, key, time signature and instruments the prompt states."""
    import shutil

    from switchboard.workers.music.store import Store

    params = {
        "prompt": prompt,
        "seconds": seconds,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "model_version": model,
        "seed": seed,
        "candidates": candidates,
    }
    result = _job("music.generate", params, namespace)
    made = Store.from_settings().generated / Path(str(result["midi_url"])).name
    if out is not None:
        if not made.exists():
            fail(f"{made} is not on this machine; fetch {result['midi_url']} from the edge")
        shutil.copy(made, out)
        result["file"] = str(out)
    typer.echo(json.dumps(result))


@music_app.command("evaluate")
def music_evaluate(
    model: Annotated[str | None, typer.Option(help="Model version (default: the newest)")] = None,
    samples: Annotated[int, typer.Option(min=1, max=256)] = 8,
    max_tokens: Annotated[int, typer.Option(min=16, max=8192)] = 512,
    tolerance: Annotated[
        float,
        typer.Option(
            min=1.0, max=100.0, help="A feature passes within this many x the real-vs-real distance"
        ),
    ] = 2.0,
    baseline: Annotated[
        bool,
        typer.Option(help="Also sample each prompt with the attribute tokens unspecified (the baseline)"),
    ] = False,
    namespace: Namespace = None,
) -> None:
    """Generate from prompts written from held-out pieces' metadata, measure how
    they meet them and compare with the real pieces; writes a report."""
    params = {
        "model_version": model,
        "samples": samples,
        "max_tokens": max_tokens,
        "tolerance": tolerance,
        "baseline": baseline,
    }
    typer.echo(json.dumps(_job("music.evaluate", params, namespace)))


MUSIC_STEPS = ["ingest", "embed", "tokenize", "train", "generate", "evaluate"]


@music_app.command("run")
def music_run(
    steps: Annotated[
        list[str] | None,
        typer.Argument(help="Steps to run, in pipeline order (default: all; generate only with --prompt)"),
    ] = None,
    collection: Annotated[
        str, typer.Option(help="music21 corpus collections for ingest (comma-separated)")
    ] = "bach",
    folder: Annotated[Path | None, typer.Option(help="Ingest this folder of .mid files instead")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Pieces to ingest (of each collection)")] = 200,
    clusters: Annotated[int, typer.Option(min=1, max=256, help="k-means clusters")] = 8,
    minutes: Annotated[float, typer.Option(min=0.05, help="Training time budget")] = 10.0,
    train_steps: Annotated[int, typer.Option(min=1, help="Training optimizer steps")] = 500,
    prompt: Annotated[str | None, typer.Option(help="Generate a piece from this prompt")] = None,
    seconds: Annotated[
        float | None, typer.Option(min=1, max=600, help="Length of the generated piece")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, max=256, help="Pieces generated to evaluate")] = 8,
    namespace: Namespace = None,
) -> None:
    """Seed 004's main.py: run the pipeline's steps in order, each a job on the bus;
    stop at the first that fails; print a summary."""
    import time

    chosen = steps or [s for s in MUSIC_STEPS if s != "generate" or prompt]
    unknown = [s for s in chosen if s not in MUSIC_STEPS]
    if unknown:
        fail(f"unknown step {', '.join(unknown)}: choose from {' '.join(MUSIC_STEPS)}")
    if "generate" in chosen and not prompt:
        fail("the generate step needs --prompt")
    if folder is not None and not folder.is_dir():
        fail(f"{folder} is not a folder")
    params: dict[str, dict[str, Any]] = {
        "ingest": {
            "collection": None if folder else collection,
            "folder": str(folder.resolve()) if folder else None,
            "limit": limit,
        },
        "embed": {"clusters": clusters},
        "tokenize": {},
        "train": {"max_minutes": minutes, "max_steps": train_steps},
        "generate": {"prompt": prompt, "seconds": seconds},
        "evaluate": {"samples": samples},
    }
    done: list[tuple[str, str, float, str]] = []
    failed = False
    for step in (s for s in MUSIC_STEPS if s in chosen):
        typer.echo(f"== {step}", err=True)
        start = time.monotonic()
        status = _follow(f"music.{step}", params[step], namespace)
        outcome = json.dumps(status.result) if status.state == "succeeded" else status.message
        done.append((step, status.state, time.monotonic() - start, outcome))
        if status.state != "succeeded":
            failed = True
            break
    for step, state, seconds, outcome in done:
        typer.echo(f"{step:<9} {state:<9} {seconds:7.1f} s  {outcome[:200]}")
    for step in (s for s in MUSIC_STEPS if s in chosen and s not in {d[0] for d in done}):
        typer.echo(f"{step:<9} {'not run':<9}")
    if failed:
        raise typer.Exit(2)
