"""How the TTS worker cuts a streamed answer into pieces to speak."""

from __future__ import annotations

from switchboard.workers.voice.tts import split


def stream(answer: str) -> list[str]:
    """Feed the answer word by word as the LLM does; collect the spoken pieces."""
    spoken: list[str] = []
    rest = ""
    tokens = answer.split(" ")
    for i, tok in enumerate(tokens):
        last = i == len(tokens) - 1
        pieces, rest = split(rest + tok + ("" if last else " "), last, first=not spoken)
        spoken += pieces
    return spoken


def test_sentences_are_spoken_whole_after_the_first_piece() -> None:
    assert stream("When a worker crashes, another replica takes over. Nothing is lost.") == [
        "When a worker crashes,",
        "another replica takes over.",
        "Nothing is lost.",
    ]


def test_the_first_piece_ends_at_a_phrase_break() -> None:
    assert stream("Start more copies of it with switchboard worker. Done.") == [
        "Start more copies",
        "of it with switchboard worker.",
        "Done.",
    ]


def test_a_one_word_clause_is_enough_and_a_long_sentence_is_cut() -> None:
    assert stream("Firstly, ensure you have your own documents in a designated folder.") == [
        "Firstly,",
        "ensure you have your own documents in a designated folder.",
    ]
    long = "Switchboard workers read every event exactly once per partition per replica group today."
    assert stream(long)[0] == "Switchboard workers read every event exactly"  # FIRST_MAX_WORDS
    assert stream("Switchboard runs every step as a worker.")[0] == "Switchboard runs every step"
    assert stream("It is done by hand.")[0] == "It is done by hand."  # no break after 3+ words


def test_a_short_answer_is_spoken_whole() -> None:
    assert stream("Yes.") == ["Yes."]
    assert stream("It depends") == ["It depends"]
    assert split("Sure, ", False, first=True) == (["Sure,"], "")
    assert split("It costs 1,000", False, first=True) == ([], "It costs 1,000")


def test_notes_keep_the_best_passages_within_the_budget() -> None:
    from switchboard.workers.voice.llm import within

    texts = ["first passage " * 10, "second passage " * 10, "third"]
    out = within(200, texts)
    assert out[0] == texts[0] and out[1].startswith("second passage") and out[1].endswith(" …")
    assert len(out) == 2 and sum(map(len, out)) <= 202
    assert within(1000, texts) == texts
