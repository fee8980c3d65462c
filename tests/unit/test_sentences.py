from hypothesis import given
from hypothesis import strategies as st

from voxagent.conversation.sentences import SentenceSplitter, split_sentences


def test_whole_text_is_split_at_sentence_ends() -> None:
    assert split_sentences("Hello there. How can I help? Great!") == [
        "Hello there.",
        "How can I help?",
        "Great!",
    ]


def test_abbreviations_times_and_decimals_do_not_cut() -> None:
    text = "Dr. Smith sees pets at 10.30 a.m. on Monday. The fee is 45.50 pesos."
    assert split_sentences(text) == [
        "Dr. Smith sees pets at 10.30 a.m. on Monday.",
        "The fee is 45.50 pesos.",
    ]


def test_spanish_punctuation() -> None:
    assert split_sentences("¡Hola! ¿En qué le puedo ayudar? Con gusto.") == [
        "¡Hola!",
        "¿En qué le puedo ayudar?",
        "Con gusto.",
    ]


def test_streaming_fragments_release_sentences_as_soon_as_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Good mor") == []
    assert splitter.feed("ning.") == []  # the end is only certain once a space follows
    assert splitter.feed(" How can I help") == ["Good morning."]
    assert splitter.feed("? ") == ["How can I help?"]
    assert splitter.flush() == []


def test_flush_returns_unterminated_tail() -> None:
    splitter = SentenceSplitter()
    splitter.feed("One. Two")
    assert splitter.flush() == ["Two"]


@given(st.lists(st.text(min_size=1, max_size=30), max_size=8))
def test_no_text_is_lost_however_it_is_fragmented(fragments: list[str]) -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for fragment in fragments:
        out += splitter.feed(fragment)
    out += splitter.flush()
    joined_in = "".join("".join(fragments).split())
    joined_out = "".join("".join(out).split())
    assert joined_out == joined_in


def test_colon_before_a_space_is_a_cut_but_not_inside_a_time() -> None:
    assert split_sentences("Let me confirm: Max on Monday at 10:30 AM. Shall I book it?") == [
        "Let me confirm:",
        "Max on Monday at 10:30 AM.",
        "Shall I book it?",
    ]
