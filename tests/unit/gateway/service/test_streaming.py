"""ChoiceStreams: deltas relayed as they come, or held back until the choice finishes and released once
finished (filtered, restored); gateway stops across chunk boundaries; an upstream that ends early."""

from __future__ import annotations

from gateway.service.streaming import Choice, ChoiceStreams


def _chunk(text: str, index: int = 0, finish: str | None = None) -> dict[str, object]:
    return {"index": index, "text": text, "finish_reason": finish}


def test_without_hold_back_each_delta_goes_out_as_it_arrives() -> None:
    streams = ChoiceStreams(1, [], finish=None, want_logprobs=False)
    out = [streams.feed(_chunk(t)) for t in ("def ", "f():")]
    assert [(c.index, text) for c, text in filter(None, out)] == [(0, "def "), (0, "f():")]
    last = streams.feed(_chunk("", finish="stop"))
    assert last is not None and last[1] == "" and last[0].finish_reason == "stop"


def test_held_back_choices_are_finished_once_and_released_whole() -> None:
    finished: list[int] = []

    def finish(choice: Choice) -> None:
        finished.append(choice.index)
        choice.text = choice.text.replace("SECRET", "<REDACTED>")

    streams = ChoiceStreams(2, [], finish=finish, want_logprobs=False)
    assert streams.feed(_chunk("key = SEC", 0)) is None
    assert streams.feed(_chunk("x = 1", 1)) is None
    released = streams.feed(_chunk("RET\n", 0, finish="length"))
    assert released is not None and released[1] == "key = <REDACTED>\n"
    assert finished == [0]
    assert [text for _, text in streams.drain()] == ["x = 1"]  # choice 1 never got a finish_reason
    assert finished == [0, 1] and streams.choices[1].finish_reason is None


def test_a_stop_split_across_chunks_ends_the_choice_and_the_stream() -> None:
    streams = ChoiceStreams(1, ["\n\n"], finish=None, want_logprobs=False)
    first = streams.feed(_chunk("return 1\n"))
    second = streams.feed(_chunk("\nmore"))
    sent = "".join(text for _, text in filter(None, [first, second]))
    assert sent == "return 1" and streams.choices[0].finish_reason == "stop"
    assert streams.all_stopped()
    assert streams.feed(_chunk("ignored")) is None  # the upstream ran on past the gateway's stop


def test_logprobs_keep_the_models_own_text() -> None:
    streams = ChoiceStreams(1, [], finish=None, want_logprobs=True)
    streams.feed({"index": 0, "text": "ab", "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.1, -0.2]}})
    choice = streams.ordered()[0]
    assert choice.raw == "ab" and choice.logprobs is not None
