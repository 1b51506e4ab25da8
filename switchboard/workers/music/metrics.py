"""Evaluation metrics of seed 004 and more, per piece (pretty_midi), and how far
the generated pieces' distribution is from the held-out real pieces.

Distance per feature: the Wasserstein (earth mover's) distance between the two
samples divided by the standard deviation of both samples pooled, so features
on different scales compare (and a feature constant in the real pieces does
not divide by zero). The same distance between two real splits (valid vs
test) is reported beside it as the baseline: a model cannot be expected to be
closer to the test pieces than other real pieces are."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = (
    "note_density",
    "velocity_mean",
    "velocity_std",
    "pitch_range",
    "pitch_class_entropy",
    "polyphony",
    "tempo_changes",
    "time_signature_changes",
    "duration_s",
)


def features(midi: bytes) -> dict[str, float]:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    notes = [n for i in pm.instruments if not i.is_drum for n in i.notes]
    end = float(pm.get_end_time()) or 1e-6
    if not notes:
        return {f: 0.0 for f in FEATURES} | {"duration_s": end}
    pitches = np.array([n.pitch for n in notes])
    velocities = np.array([n.velocity for n in notes], dtype=float)
    classes = np.bincount(pitches % 12, minlength=12) / len(pitches)
    entropy = -float(sum(p * math.log2(p) for p in classes if p > 0))
    sounding = sum(n.end - n.start for n in notes)
    covered = _covered([(n.start, n.end) for n in notes])
    tempo_times, _ = pm.get_tempo_changes()
    return {
        "note_density": len(notes) / end,
        "velocity_mean": float(velocities.mean()),
        "velocity_std": float(velocities.std()),
        "pitch_range": float(pitches.max() - pitches.min()),
        "pitch_class_entropy": entropy,
        "polyphony": float(sounding / covered) if covered else 0.0,
        "tempo_changes": float(max(0, len(tempo_times) - 1)),
        "time_signature_changes": float(max(0, len(pm.time_signature_changes) - 1)),
        "duration_s": end,
    }


def _covered(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one note sounds (the polyphony's denominator)."""
    total, end = 0.0, -1.0
    for s, e in sorted(spans):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def distance(generated: Sequence[float], real: Sequence[float]) -> float:
    from scipy.stats import wasserstein_distance

    if not len(generated) or not len(real):
        return float("nan")
    scale = float(np.std([*generated, *real]))
    if scale < 1e-9:  # both samples the same constant
        return 0.0
    return float(wasserstein_distance(generated, real)) / scale


def compare(
    generated: list[dict[str, float]], real: list[dict[str, float]], baseline: list[dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Per feature: means, the distance generated->real and the real->real baseline."""
    table = {}
    for f in FEATURES:
        g, r, b = ([x[f] for x in s] for s in (generated, real, baseline))
        table[f] = {
            "generated_mean": float(np.mean(g)) if g else float("nan"),
            "real_mean": float(np.mean(r)) if r else float("nan"),
            "distance": distance(g, r),
            "baseline": distance(b, r),
        }
    return table


FLOOR = 0.1  # distances this small pass whatever the baseline (few pieces: noisy baselines)


def passes(v: dict[str, float], tolerance: float) -> bool | None:
    """Is the generated feature as close to the real pieces as real pieces are
    to each other (within ``tolerance`` times)? None where it cannot be told."""
    if math.isnan(v["distance"]) or math.isnan(v["baseline"]):
        return None
    return v["distance"] <= tolerance * v["baseline"] + FLOOR


def summary(table: dict[str, dict[str, float]], tolerance: float = 2.0) -> dict[str, Any]:
    """Mean distances, and the quality score: the share of features that pass."""
    d = [v["distance"] for v in table.values() if not math.isnan(v["distance"])]
    b = [v["baseline"] for v in table.values() if not math.isnan(v["baseline"])]
    verdicts = {f: passes(v, tolerance) for f, v in table.items()}
    told = [ok for ok in verdicts.values() if ok is not None]
    return {
        "mean_distance": round(float(np.mean(d)), 4) if d else float("nan"),
        "baseline_distance": round(float(np.mean(b)), 4) if b else float("nan"),
        "quality": round(sum(told) / len(told), 4) if told else float("nan"),
        "tolerance": tolerance,
        "failing": [f for f, ok in verdicts.items() if ok is False],
    }


def markdown(
    version: str, table: dict[str, dict[str, float]], n_gen: int, n_real: int, tolerance: float = 2.0
) -> str:
    lines = [
        f"# Evaluation of {version}",
        "",
        f"{n_gen} generated pieces vs {n_real} held-out real pieces (test split). "
        "Distance: Wasserstein / std of both samples pooled; baseline: the same distance from "
        f"the valid split's real pieces. A feature passes at distance ≤ {tolerance:g} × baseline "
        f"+ {FLOOR:g}.",
        "",
        "| feature | generated mean | real mean | distance | real-vs-real baseline | passes |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for f, v in table.items():
        ok = {True: "yes", False: "no", None: "–"}[passes(v, tolerance)]
        lines.append(
            f"| {f} | {v['generated_mean']:.3f} | {v['real_mean']:.3f} | {v['distance']:.3f} "
            f"| {v['baseline']:.3f} | {ok} |"
        )
    s = summary(table, tolerance)
    lines += [
        "",
        f"Mean distance {s['mean_distance']:.3f} (baseline {s['baseline_distance']:.3f}). "
        f"Quality {s['quality']:.0%} of the features pass"
        + (f"; failing: {', '.join(s['failing'])}." if s["failing"] else "."),
        "",
    ]
    return "\n".join(lines)


def plot(table_inputs: dict[str, list[dict[str, float]]], path: Path) -> None:
    """Histograms per feature, generated against real."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(FEATURES) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.4 * rows), dpi=80)
    for ax, f in zip(axes.flat, FEATURES, strict=False):
        for name, sample in table_inputs.items():
            ax.hist([x[f] for x in sample], bins=12, alpha=0.5, density=True, label=name)
        ax.set_title(f, fontsize=9)
    axes.flat[0].legend(fontsize=8)
    for ax in list(axes.flat)[len(FEATURES) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def as_scalars(table: dict[str, dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f, v in table.items():
        out[f"{f}.distance"] = None if math.isnan(v["distance"]) else round(v["distance"], 4)
        out[f"{f}.generated"] = None if math.isnan(v["generated_mean"]) else round(v["generated_mean"], 4)
        out[f"{f}.real"] = None if math.isnan(v["real_mean"]) else round(v["real_mean"], 4)
    return out
