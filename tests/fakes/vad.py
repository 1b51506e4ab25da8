"""A VAD that hears energy (tests only): a window louder than ``level`` is speech."""

from __future__ import annotations

import numpy as np

from switchboard.workers.engines.vad import VAD, State


class FakeVAD(VAD):
    def __init__(self, level: float = 0.01) -> None:
        self.level = level

    def new_state(self) -> State:
        return np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.float32)

    def _probability_impl(self, window: np.ndarray, state: State) -> tuple[float, State]:
        loud = float(np.sqrt(np.mean(window.astype(np.float64) ** 2))) > self.level
        return (1.0 if loud else 0.0), state
