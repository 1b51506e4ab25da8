"""Notes: the sentences of the retrieved passages nearest the question."""

from __future__ import annotations

from switchboard.workers.voice import notes
from tests.fakes.embed import FakeEmbedder

VOICE = (
    "You talk to the assistant in the browser. The microphone sends 16 kHz audio to the edge. "
    "Whisper turns the speech into text. If you start speaking while it answers, the answer "
    "stops: this is called barge-in. Piper speaks the answer."
)
ANALYST = (
    "The analyst answers questions about data. Ask about the Chinook music store or the "
    "music21 score corpus. A guarded runner executes the code read-only."
)


class Counting(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=256)
        self.texts = 0

    def _embed_impl(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return super()._embed_impl(texts)


def pick(question: str, embedder: FakeEmbedder, budget: int = 400) -> list[tuple[str, str, float]]:
    vector = embedder.embed([question])[0]
    passages = [(VOICE, "guide.md", 0.0), (ANALYST, "guide.md", 0.0)]
    return notes.pick(vector, passages, notes.SentenceVectors(embedder), budget=budget, min_score=0.3)


def test_sentences_leave_out_headings_and_a_chunk_its_overlap() -> None:
    text = "ites the next, so each step scales.\n## The analyst\nThe analyst answers questions. Ok.\nIt runs SQL."
    assert notes.sentences(notes.after_overlap(text)) == ["The analyst answers questions.", "It runs SQL."]
    # a passage may start in lower case: only a later chunk's overlap is cut
    assert notes.sentences("switchboard worker NAME --replicas 3 starts copies.") == [
        "switchboard worker NAME --replicas 3 starts copies."
    ]


def test_the_answering_sentence_is_found_inside_a_far_passage() -> None:
    out = pick("What is barge-in?", FakeEmbedder(dim=256))
    assert out and "called barge-in" in out[0][0]
    assert "16 kHz" not in out[0][0] and "Chinook" not in " ".join(t for t, _, _ in out)
    assert len(out[0][0]) < len(VOICE) / 2


def test_the_sentence_after_a_pick_comes_along_when_it_is_near() -> None:
    out = pick("Which data does the analyst answer questions about?", FakeEmbedder(dim=256))
    assert out[0][0].startswith("The analyst answers questions about data.")
    assert "Chinook" in out[0][0]


def test_the_budget_and_the_floor_hold() -> None:
    embedder = FakeEmbedder(dim=256)
    out = pick("What does the microphone send to the edge?", embedder, budget=30)
    assert [t for t, _, _ in out] == ["The microphone sends 16 kHz audio to the edge."]  # over, but alone
    assert pick("Completely unrelated gardening tips?", embedder) == []


def test_sentence_vectors_are_kept() -> None:
    embedder = Counting()
    vectors = notes.SentenceVectors(embedder, size=3)
    vectors(["a b c", "d e f"])
    vectors(["a b c", "g h i"])
    assert embedder.texts == 3
    vectors(["j k l", "a b c"])  # "d e f" is the oldest and goes
    vectors(["d e f"])
    assert embedder.texts == 5


def test_a_near_faq_question_vouches_for_its_answer() -> None:
    embedder = FakeEmbedder(dim=256)
    vector = embedder.embed(["How can I run more copies?"])[0]
    faq = ("Start more with switchboard worker NAME --replicas N.", "faq:faq.md", 0.55)
    out = notes.pick(
        vector, [(VOICE, "guide.md", 0.0), faq], notes.SentenceVectors(embedder), budget=400, min_score=0.4
    )
    assert [(t, src) for t, src, _ in out] == [(faq[0], "faq:faq.md")]
