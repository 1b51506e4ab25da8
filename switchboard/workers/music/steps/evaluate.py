"""music-evaluate: the job music.evaluate -> music.report.

Generates pieces from prompts written from the metadata of held-out (test
split) real pieces (who, which collection, key, metre, tempo), measures both
with workers/music/metrics.py and how well each meets its prompt
(attributes.py), and writes a report (table and
plots) per model version under reports/<version>/, served by the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import EvaluateRequest, Event, JobStatus, Report
from switchboard.schemas.jobs import JobState

from .. import attributes, features, metrics, sample
from ..store import Store, read_json, write_json
from .common import CancellableStep, MusicSettings, in_thread, quiet_after_cancel

KIND = "music.evaluate"


def evaluate(
    s: Store, req: EvaluateRequest, emit: Callable[[Any], None], stop: Callable[[], bool]
) -> dict[str, Any]:
    path = s.model_dir(req.model_version)
    version = path.name
    dataset = s.dataset_dir(read_json(path / "train.json")["dataset_version"])
    test = features.sequences(dataset, "test")
    valid = features.sequences(dataset, "valid")
    if not test:
        raise LookupError(f"dataset {dataset.name} has no test pieces to compare with")

    def real(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        return [metrics.features(s.midi_path(r["piece_id"]).read_bytes()) for r in rows]

    real_test, real_valid = real(test), real(valid)
    # those that have a key come first: a prompt names the key where the metadata knows it
    records = sorted((s.piece(r["piece_id"]) for r in test), key=lambda r: not r.get("key"))
    prompts = [prompt_of(r) for r in records]
    # the ceiling: how well the held-out pieces meet the prompts written from their own metadata
    ceiling = [
        attributes.adherence(
            attributes.parse(p), attributes.measured(s.midi_path(r["piece_id"]).read_bytes())
        )
        for p, r in zip(prompts, records, strict=True)
    ]
    met: list[dict[str, bool]] = []
    model_met: list[dict[str, bool]] = []
    unconditioned: list[dict[str, bool]] = []
    generated: list[dict[str, float]] = []
    for n in range(req.samples):
        if stop():
            break
        prompt = prompts[n % len(prompts)]
        try:
            piece = sample.generate(
                s, prompt, model_version=version, max_tokens=req.max_tokens, seed=req.seed + n, stop=stop
            )
        except sample.NoMusic:
            if stop():  # cut short by the cancel, not a sample without notes
                break
            emit((n + 1, "no notes"))
            continue
        if stop():
            break  # a piece cut short by the cancel is not measured
        generated.append(metrics.features(piece.midi))
        met.append(piece.met)
        model_met.append(piece.model_met)
        if req.baseline:
            try:
                plain = sample.generate(
                    s,
                    prompt,
                    model_version=version,
                    max_tokens=req.max_tokens,
                    seed=req.seed + n,
                    conditioned=False,
                    stop=stop,
                )
                unconditioned.append(plain.model_met)
            except sample.NoMusic:
                pass  # the baseline's own failure; the conditioned piece still counts
        emit((n + 1, f"{piece.notes} notes, {piece.duration_s:.1f} s"))
    if not generated:
        raise sample.NoMusic("no sample had notes: train the model longer")
    table = metrics.compare(generated, real_test, real_valid)
    out = s.reports / version
    out.mkdir(parents=True, exist_ok=True)
    metrics.plot({"generated": generated, "real (test)": real_test}, out / "features.png")
    adherence = {
        "generated": attributes.rates(met),
        "model": attributes.rates(model_met),
        "unconditioned": attributes.rates(unconditioned),
        "real": attributes.rates(ceiling),
    }
    (out / "report.md").write_text(
        metrics.markdown(version, table, len(generated), len(real_test), req.tolerance)
        + _adherence_markdown(adherence)
    )
    report = {
        "model_version": version,
        "dataset_version": dataset.name,
        "generated": len(generated),
        "real": len(real_test),
        **metrics.summary(table, req.tolerance),
        "features": table,
        "adherence": adherence,
    }
    write_json(out / "report.json", report)
    return report


def prompt_of(record: dict[str, Any]) -> str:
    """A prompt from a piece's metadata: who, from where, its key, metre and tempo."""
    who = f" by {record['composer']}" if record.get("composer") else ""
    where = f" from the {record['collection']} collection" if record.get("collection") else ""
    parts = [f"A piece{who}{where}"]
    if record.get("key"):
        parts.append(f"in {record['key']}")
    if record.get("time_signature"):
        parts.append(f"in {record['time_signature']} time")
    parts.append(f"at {record['tempo_bpm']:g} bpm")
    return ", ".join(parts)


def _adherence_markdown(adherence: dict[str, dict[str, Any]]) -> str:
    """How the pieces meet the attributes their prompts state, beside the real pieces."""
    lines = [
        "",
        "## Adherence to the prompt",
        "",
        "Prompts are written from the held-out pieces' metadata (key, metre, tempo); the real pieces",
        "against the prompts from their own metadata are the ceiling.",
        "Generated: the pieces as handed out (tempo, metre and key signature written in; notes in the",
        "asked mode moved to the asked tonic); the model's own notes: before that move; unconditioned:",
        "the same model and prompts with every attribute token unspecified (the baseline).",
        "",
        "| measure | generated | the model's own notes | unconditioned (baseline) | real (ceiling) |",
        "|---|---|---|---|---|",
    ]

    def cell(rates: dict[str, Any], m: str) -> str:
        return f"{rates[m]:.0%} (n={rates[f'{m}_n']})" if m in rates else "-"

    for m in attributes.MEASURES:
        if any(m in r for r in adherence.values()):
            lines.append(
                f"| {m} | {cell(adherence['generated'], m)} | {cell(adherence['model'], m)} | "
                f"{cell(adherence['unconditioned'], m)} | {cell(adherence['real'], m)} |"
            )
    return "\n".join(lines) + "\n"


class EvaluateStep(CancellableStep):
    """The music-evaluate worker kind's handlers."""

    @handles(EvaluateRequest)
    @quiet_after_cancel
    async def on_evaluate(self, req: EvaluateRequest, ctx: Context) -> AsyncIterator[Event]:
        s = self.store()
        yield ctx.job.status("running", 0.0, "measuring the held-out pieces")
        try:
            async for done, item in in_thread(
                lambda emit: evaluate(s, req, emit, lambda: self.cancelled(req.correlation_id))
            ):
                if done:
                    report = item
                else:
                    yield ctx.job.status(
                        "running", 0.95 * item[0] / req.samples, f"sample {item[0]}: {item[1]}"
                    )
        except (LookupError, sample.NoMusic) as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        version = report["model_version"]
        scalars = {
            "mean_distance": report["mean_distance"],
            "baseline_distance": report["baseline_distance"],
            "quality": report["quality"],
            "generated": report["generated"],
            "real": report["real"],
            **metrics.as_scalars(report["features"]),
            **{f"adherence_{k}": v for k, v in report["adherence"]["generated"].items() if "_n" not in k},
            **{f"model_{k}": v for k, v in report["adherence"]["model"].items() if "_n" not in k},
            **{f"ceiling_{k}": v for k, v in report["adherence"]["real"].items() if "_n" not in k},
        }
        yield Report(
            correlation_id=req.correlation_id,
            causation_id=req.id,
            model_version=version,
            metrics=scalars,
            path=str(s.reports / version),
        )
        state: JobState = "cancelled" if self.cancelled(req.correlation_id) else "succeeded"
        yield ctx.job.status(
            state,
            1.0,
            f"{report['generated']} generated vs {report['real']} real pieces: mean distance "
            f"{report['mean_distance']} (real-vs-real baseline {report['baseline_distance']}); "
            f"quality {report['quality']:.0%} of the features pass",
            model_version=version,
            mean_distance=report["mean_distance"],
            baseline_distance=report["baseline_distance"],
            quality=report["quality"],
            failing=", ".join(report["failing"]),
            report_url=f"/music/reports/{version}/report.md",
            plot_url=f"/music/reports/{version}/features.png",
        )


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-evaluate worker kind over the music store that ``settings`` name."""
    return Worker.of(
        EvaluateStep(settings),
        "music-evaluate",
        version="0.1.0",
        emits=(Report, JobStatus),
        job_kind=KIND,
        job_starts=EvaluateRequest,
    )
