"""Test doubles, one per engine kind (tests only): each implements the engine's
interface (``switchboard.workers.engines``), deterministic and model-free."""

from .embed import FakeEmbedder
from .llm import FakeLLM, SlowLLM
from .stt import FakeSTT
from .tts import FakeTTS
from .vad import FakeVAD
from .vectors import MemoryCollection

__all__ = ["FakeEmbedder", "FakeLLM", "FakeSTT", "FakeTTS", "FakeVAD", "MemoryCollection", "SlowLLM"]
