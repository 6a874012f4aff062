"""HumanEval+ judging rules (EvalPlus's semantics) as pure functions: comparison, atol, limits, wire forms."""

from __future__ import annotations

import json
import marshal
import math

import pytest

from experiments.bench import wire
from experiments.bench.plus import (
    _batch_file,
    _value_text,
    effective_atol,
    is_floats,
    outputs_match,
    split_timeout,
    time_limits,
)
from experiments.bench.plus_reference import _text_is_floats


@pytest.mark.parametrize(
    ("out", "exp", "atol", "expected"),
    [
        (3, 3, 0.0, True),
        (1, 1.0, 0.0, True),  # `==` first, as EvalPlus does
        ([1, 2], (1, 2), 0.0, False),  # a list is not a tuple
        ("abc", "abd", 0.0, False),
        (0.30000000000000004, 0.3, 0.0, False),  # atol 0: exact only
        (0.30000000000000004, 0.3, 1e-6, True),
        ([1.0, 2.0000001], [1.0, 2.0], 1e-6, True),
        ([1.0, 2.1], [1.0, 2.0], 1e-6, False),
        ([1.0], (1.0,), 1e-6, False),  # types must agree before allclose
        ([1.0, 2.0], [1.0], 1e-6, False),  # and lengths
        (["a"], ["b"], 1e-6, False),  # allclose on strings raises: not close
        (math.nan, math.nan, 1e-6, False),  # NaN is never equal, nor close
        (None, 0.0, 1e-6, False),
    ],
)
def test_outputs_match_follows_evalplus(out: object, exp: object, atol: float, expected: bool) -> None:
    assert outputs_match("Task/0", [], out, exp, atol) is expected


def test_find_zero_accepts_any_root_within_atol() -> None:
    """HumanEval/32: x^3 - 6x^2 + 11x - 6 has roots 1, 2, 3; the reference's root need not be ours."""
    xs = [-6, 11, -6, 1]
    assert outputs_match("HumanEval/32", [xs], 3.0, 1.0, 1e-4)
    assert outputs_match("HumanEval/32", [xs], 2.00000001, 1.0, 1e-4)
    assert not outputs_match("HumanEval/32", [xs], 2.5, 1.0, 1e-4)
    assert not outputs_match("HumanEval/32", [xs], "2", 1.0, 1e-4)  # not a number: wrong
    # the same function name in another benchmark gets no special oracle
    assert not outputs_match("Other/32", [xs], 3.0, 1.0, 1e-4)


def test_float_atol_turns_on_at_the_first_float_output_and_stays() -> None:
    assert effective_atol(0.0, 0, None) == 0.0
    assert effective_atol(0.0, 1, 2) == 0.0
    assert effective_atol(0.0, 2, 2) == 1e-6
    assert effective_atol(0.0, 9, 2) == 1e-6
    assert effective_atol(1e-4, 0, None) == 1e-4  # the task's own atol wins


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, True), ([1.0, 2.0], True), ((1.0,), True), ([], False), ([1, 2.0], False), (1, False), ("1.0", False)],
)
def test_is_floats(value: object, expected: bool) -> None:
    assert is_floats(value) is expected


def test_time_limits_have_a_floor_and_scale_the_reference_time() -> None:
    # evalplus/config.py: max(DEFAULT_MIN_TIME_LIMIT = 1 s, DEFAULT_GT_TIME_LIMIT_FACTOR = 4 x time)
    assert time_limits([0, 100_000_000, 500_000_000]) == [1.0, 1.0, 2.0]
    # the whole split: min(60, sum) + 1, plus the sandbox's start-up
    assert split_timeout([1.0, 2.0]) == pytest.approx(3.0 + 1.0 + 2.0)
    assert split_timeout([1.0] * 750) == pytest.approx(60.0 + 1.0 + 2.0)


def test_the_batch_file_holds_inputs_and_limits_only() -> None:
    """The expected values never enter the sandbox: the batch file is the function, inputs, limits."""
    batch = marshal.loads(_batch_file("f", [[1, "a"], [2, "b"]], [1.0, 2.0], stop=True))
    assert batch == {
        "fn": "f",
        "inputs": [[1, "a"], [2, "b"]],
        "limits": [1.0, 2.0],
        "stop": True,
        "discard": False,
    }


def test_value_text_slices_the_raw_answer() -> None:
    line = wire.dump_json({"i": 3, "ok": wire.encode_value(['x,"ns":1', 2.5]), "ns": 12}).encode()
    text = _value_text(line, 3)
    assert text is not None and wire.decode_value(json.loads(text)) == ['x,"ns":1', 2.5]
    assert _value_text(line, 4) is None
    assert _value_text(b'{"i":3,"exc":"ValueError","message":"x"}', 3) is None


def test_floats_are_recognised_from_the_wire_text() -> None:
    def text(v: object) -> bytes:
        return wire.dump_json(wire.encode_value(v)).encode()

    assert _text_is_floats(text(1.5))
    assert _text_is_floats(text([1.5, 2.0]))
    assert not _text_is_floats(text([1, 2.0]))  # a number list with an int is not floats
    assert not _text_is_floats(text([1, 2]))
    assert not _text_is_floats(text("1.5"))


@pytest.mark.parametrize(
    "value",
    [
        [1, 3, 2.0, 8.0],
        [math.inf, -0.0, 1e300, -5],
        2**40000,
        -(2**40000),
        [2**40000, 1.5],
        [True, 1.0],
        (1.0, 2.0),
    ],
    ids=["mixed-list", "specials", "big-int", "big-negative", "big-in-list", "bool-in-list", "tuple"],
)
def test_wire_round_trips_big_ints_and_number_lists(value: object) -> None:
    back = wire.decode_value(json.loads(wire.dump_json(wire.encode_value(value))))
    assert back == value and type(back) is type(value)
    if isinstance(value, list):
        assert [type(v) for v in back] == [type(v) for v in value]


def test_wire_number_list_keeps_nan_and_negative_zero() -> None:
    back = wire.decode_value(json.loads(wire.dump_json(wire.encode_value([math.nan, -0.0, 1]))))
    assert math.isnan(back[0]) and math.copysign(1.0, back[1]) == -1.0 and type(back[2]) is int


def test_the_contract_runs_first_in_either_row_style() -> None:
    from experiments.bench.plus import guarded_program

    # HumanEval-style: the prompt ends inside the function, the contract and the body follow it
    prompt = 'def f(n):\n    """Half of n."""\n'
    assert guarded_program(prompt, "    return n // 2\n", "    assert n >= 0\n", "f") == (
        prompt + "    assert n >= 0\n    return n // 2\n"
    )
    assert guarded_program(prompt, "    return n // 2\n", "", "f") == prompt + "    return n // 2\n"
    # MBPP-style: the solution is the whole function (tab-indented, a signature over two lines, a
    # helper before it): the contract goes at the start of its body, in the body's indentation
    solution = "R = 3\r\ndef g(x):\r\n\treturn x\r\ndef f(a,\r\n      b):\r\n\tif a:\r\n\t\treturn b\r\n\treturn a\r\n"
    program = guarded_program('"""doc"""\n', solution, "    assert isinstance(a, int)\n    assert b > 0\n", "f")
    assert program == (
        '"""doc"""\nR = 3\r\ndef g(x):\r\n\treturn x\r\ndef f(a,\r\n      b):\r\n'
        "\tassert isinstance(a, int)\n\tassert b > 0\n\tif a:\r\n\t\treturn b\r\n\treturn a\r\n"
    )
    namespace: dict[str, object] = {}
    exec(compile(program, "<guarded>", "exec"), namespace)  # noqa: S102 - our own test program
    f = namespace["f"]
    assert f(0, 2) == 0  # type: ignore[operator]
    with pytest.raises(AssertionError):
        f(1, 0)  # type: ignore[operator]
    # a one-line function has no body line to put the contract before: a clear error
    with pytest.raises(ValueError, match="one-line"):
        guarded_program("", "def f(a): return a\n", "    assert a\n", "f")
