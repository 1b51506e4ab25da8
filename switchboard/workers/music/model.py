"""A small GPT-2 (transformers) built from a config and trained from scratch
on CPU with the transformers Trainer: checkpoints every N steps, resumable,
a time budget, loss curves saved as a plot, progress through a callback.

Training windows: every piece's sequence cut into ``context``-long windows,
each starting with the piece's head (its attribute tokens and its semantic
cluster token); a training window is transposed and has attributes dropped at
random (conditioning.Augment). Training runs on every core and reports the
tokens it really read (padding left out) per second."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.schemas import TrainRequest

from . import conditioning
from .features import sequences
from .pool import cores
from .store import Store, read_json, write_json

PAD = 0  # miditok's PAD_None
MAX_EVAL_WINDOWS = 64


Window = tuple[list[int], list[int]]  # (head, body)


def windows(rows: list[dict[str, Any]], context: int) -> list[Window]:
    out = []
    for r in rows:
        n = int(r.get("head", 1))  # datasets before attribute tokens: the cluster token only
        head, body = r["ids"][:n], r["ids"][n:]
        step = context - n
        for i in range(0, max(1, len(body) - step // 4), step):
            out.append((head, body[i : i + step]))
    return out


class WindowSet:
    """A torch-style dataset of padded windows with labels (-100 on padding),
    each augmented when ``augment`` is given (training, not evaluation)."""

    def __init__(self, rows: list[Window], context: int, augment: conditioning.Augment | None = None) -> None:
        self.rows = rows
        self.context = context
        self.augment = augment

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        head, body = self.rows[i]
        if self.augment is not None and len(head) > 1:
            prefix, body = self.augment(head[:-1], body)
            head = [*prefix, head[-1]]
        ids = [*head, *body]
        pad = self.context - len(ids)
        input_ids = torch.tensor(ids + [PAD] * pad)
        mask = torch.tensor([1] * len(ids) + [0] * pad)
        labels = torch.tensor(ids + [-100] * pad)
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


@dataclass
class Progress:
    step: int
    max_steps: int
    train_loss: float | None = None
    valid_loss: float | None = None
    checkpoint: str | None = None
    tokens_per_s: float = 0.0


def model_version(req: TrainRequest, dataset_version: str) -> str:
    import hashlib

    shape = f"{dataset_version}-{req.n_layer}-{req.n_head}-{req.n_embd}-{req.context}-{req.seed}"
    return f"gpt2-{hashlib.sha256(f'{shape}-{time.time_ns()}'.encode()).hexdigest()[:10]}"


def train(
    store: Store,
    req: TrainRequest,
    report: Callable[[Progress], None],
    stop: Callable[[], bool],
) -> dict[str, Any]:
    """Train (or resume) a model; returns the summary written to train.json."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if req.n_embd % req.n_head:
        raise ValueError(f"n_embd {req.n_embd} must be a multiple of n_head {req.n_head}")
    if req.resume:
        out = store.models / req.resume
        if not (out / "train.json").exists():
            raise LookupError(f"no model version {req.resume!r} to resume")
        before = read_json(out / "train.json")
        dataset = store.dataset_dir(before["dataset_version"])
        req = TrainRequest.model_validate(
            {
                **before["request"],
                **_overrides(req),
                "resume": req.resume,
                "correlation_id": req.correlation_id,
            }
        )
        version = req.resume
    else:
        dataset = store.dataset_dir(req.dataset_version)
        version = model_version(req, dataset.name)
        out = store.models / version
    summary = read_json(dataset / "dataset.json")
    train_w = windows(sequences(dataset, "train"), req.context)
    valid_w = windows(sequences(dataset, "valid"), req.context)[:MAX_EVAL_WINDOWS]
    if not train_w:
        raise LookupError(f"dataset {dataset.name} has no training pieces")
    torch.manual_seed(req.seed)
    torch.set_num_threads(cores())
    augment = None
    if "attributes" in summary:
        layout = conditioning.Layout(int(summary["attributes"]))
        pitches = {int(p): int(i) for p, i in summary["pitch_ids"].items()}
        augment = conditioning.Augment(layout, pitches, req.seed)
        if "durations" in summary:  # each window's key token: the key of its own notes
            beats = {int(i): float(b) for i, b in summary["durations"].items()}
            local = conditioning.WindowKey(pitches, beats)
            train_w = conditioning.relabel(train_w, layout, local)
            valid_w = conditioning.relabel(valid_w, layout, local)
    config = GPT2Config(
        vocab_size=int(summary["vocab"]),
        n_positions=req.context,
        n_embd=req.n_embd,
        n_layer=req.n_layer,
        n_head=req.n_head,
        bos_token_id=int(summary["eos"]),
        eos_token_id=int(summary["eos"]),
        pad_token_id=PAD,
    )
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "clusters.npz", "dataset.json"):
        shutil.copy(dataset / name, out / name)
    base = {
        "request": req.model_dump(mode="json", exclude={"id", "correlation_id", "causation_id", "created_at"})
    }
    write_json(out / "train.json", {**base, "dataset_version": dataset.name, "done": False})
    started = time.monotonic()
    budget_s = req.max_minutes * 60

    class Report(TrainerCallback):
        def __init__(self) -> None:
            self.first_seen: int | None = None
            self.t0 = time.monotonic()
            self.rate = 0.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.first_seen is None:  # timed from the end of the first step: warm-up excluded
                self.first_seen, self.t0 = state.num_input_tokens_seen, time.monotonic()
            seen = state.num_input_tokens_seen - self.first_seen
            if seen:
                self.rate = seen / max(1e-6, time.monotonic() - self.t0)
            report(Progress(state.global_step, state.max_steps, tokens_per_s=self.rate))
            if stop() or time.monotonic() - started > budget_s:
                control.should_training_stop = True
                control.should_save = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                report(
                    Progress(
                        state.global_step,
                        state.max_steps,
                        train_loss=float(logs["loss"]),
                        tokens_per_s=self.rate,
                    )
                )

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
            loss = (metrics or {}).get("eval_loss")
            report(Progress(state.global_step, state.max_steps, valid_loss=loss))

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            plot_loss(state.log_history, out / "loss.png")
            ckpt = out / f"checkpoint-{state.global_step}"
            report(Progress(state.global_step, state.max_steps, checkpoint=str(ckpt)))

    args = TrainingArguments(
        output_dir=str(out),
        max_steps=req.max_steps,
        per_device_train_batch_size=req.batch_size,
        per_device_eval_batch_size=req.batch_size,
        learning_rate=req.learning_rate,
        warmup_steps=min(100, req.max_steps // 10),
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        logging_steps=max(1, min(25, req.checkpoint_every)),
        eval_strategy="steps" if valid_w else "no",
        eval_steps=req.checkpoint_every,
        save_strategy="steps",
        save_steps=req.checkpoint_every,
        save_total_limit=2,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        seed=req.seed,
    )
    model = GPT2LMHeadModel(config)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=WindowSet(train_w, req.context, augment),
        eval_dataset=WindowSet(valid_w, req.context) if valid_w else None,
        callbacks=[Report()],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes to jobs.status, not stdout
    resume = bool(req.resume) and any(out.glob("checkpoint-*"))
    seen_before = _seen_at_checkpoint(out) if resume else 0
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    valid_loss = trainer.evaluate()["eval_loss"] if valid_w else None
    trainer.save_model(str(out / "final"))
    history = trainer.state.log_history
    write_json(out / "loss.json", history)
    plot_loss(history, out / "loss.png")
    elapsed = time.monotonic() - started
    seen = trainer.state.num_input_tokens_seen - seen_before
    # the last logged loss; a run shorter than the logging interval has only the mean
    train_loss = next((h["loss"] for h in reversed(history) if "loss" in h), None)
    if train_loss is None and seen:
        train_loss = result.training_loss
    done = {
        **base,
        "done": True,
        "model_version": version,
        "dataset_version": dataset.name,
        "steps": trainer.state.global_step,
        "train_loss": None if train_loss is None else round(float(train_loss), 4),
        "valid_loss": None if valid_loss is None else round(float(valid_loss), 4),
        "train_windows": len(train_w),
        "parameters": sum(int(p.numel()) for p in model.parameters()),
        "seconds": round(elapsed, 1),
        "tokens": int(trainer.state.num_input_tokens_seen),
        "tokens_per_s": round(seen / max(1e-6, result.metrics["train_runtime"]), 1),
        "threads": torch.get_num_threads(),
        "conditioned": augment is not None,
        "stopped_early": trainer.state.global_step < req.max_steps,
    }
    write_json(out / "train.json", done)
    return done


def _seen_at_checkpoint(out: Path) -> int:
    """Tokens the last checkpoint had read (a resumed run counts only its own)."""
    last = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return int(read_json(last / "trainer_state.json").get("num_input_tokens_seen", 0))


def _overrides(req: TrainRequest) -> dict[str, Any]:
    """What a resume may change: how long to go on, not the model's shape."""
    return {"max_steps": req.max_steps, "max_minutes": req.max_minutes}


def plot_loss(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for key, label in (("loss", "train"), ("eval_loss", "valid")):
        pts = [(h["step"], h[key]) for h in history if key in h]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o" if key == "eval_loss" else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    if ax.lines:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


@dataclass(frozen=True)
class Loaded:
    version: str
    model: Any
    tokenizer: Any
    centroids: np.ndarray
    base: int
    """the id of cluster 0's token"""
    layout: conditioning.Layout | None
    """where the attribute tokens are; None for a model trained before them"""


def load(store: Store, version: str | None) -> Loaded:
    """A trained model with what sampling needs; the last one loaded is kept until
    its files change."""
    path = store.model_dir(version)
    return _load(path, (path / "final/config.json").stat().st_mtime)


@functools.lru_cache(maxsize=1)
def _load(path: Path, mtime: float) -> Loaded:
    from transformers import GPT2LMHeadModel

    from .features import load_tokenizer

    model = GPT2LMHeadModel.from_pretrained(path / "final").eval()
    clusters = np.load(path / "clusters.npz")
    tok = load_tokenizer(path / "tokenizer.json")
    layout = conditioning.Layout(int(clusters["attributes"])) if "attributes" in clusters else None
    return Loaded(path.name, model, tok, clusters["centroids"], int(clusters["base"]), layout)
