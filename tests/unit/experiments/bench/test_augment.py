"""Type-aware mutation (experiments/bench/augment.py): determinism, types, domains, boundary values."""

from __future__ import annotations

from typing import Any

from experiments.bench.augment import Mutator, infer_domain, infer_relations, mbpp_call_inputs, task_rng

BASE: list[list[Any]] = [
    [[3, 1, 2], "abc", 2, 1.5, (1, "x"), {"a": 1}],
    [[5, 4], "ba", 0, 0.25, (2, "y"), {"b": 2, "c": 3}],
    [[7], "cab", 4, 3.0, (3, "z"), {"c": 5}],
]


def _mutants(seed: int, n: int = 300, base: list[list[Any]] = BASE) -> list[list[Any]]:
    mutator = Mutator(base, task_rng(seed, "T/1"))
    pool = [list(a) for a in base]
    out = []
    for _ in range(n):
        args = mutator.mutant(pool)
        pool.append(args)
        out.append(args)
    return out


def test_same_seed_same_inputs_and_another_seed_others() -> None:
    assert _mutants(7) == _mutants(7)
    assert _mutants(7) != _mutants(8)
    # the task id is part of the seed: tasks do not share a random stream
    assert task_rng(7, "T/1").random() != task_rng(7, "T/2").random()


def test_types_are_preserved_per_argument_and_element() -> None:
    for args in _mutants(1):
        xs, s, k, f, rec, d = args
        assert type(xs) is list and all(type(x) is int for x in xs)
        assert type(s) is str
        assert type(k) is int and type(f) is float
        assert type(rec) is tuple and len(rec) == 2 and type(rec[0]) is int and type(rec[1]) is str
        assert type(d) is dict and all(type(key) is str and type(v) is int for key, v in d.items())


def test_mutants_stay_in_the_domain_the_base_inputs_show() -> None:
    mutants = _mutants(2)
    for xs, s, k, f, _rec, _d in mutants:
        assert xs  # every base list is non-empty
        assert set(s) <= set("abc") and s  # only the characters the base strings use, never empty
        assert 0 <= k <= 18 and f > 0.0  # non-negative stays non-negative, no 0.0 where the base has none
        assert len(xs) <= 10 and len(s) <= 10  # bounded size: max(10, 2 x the longest base value)
    # ... and still explore: new values at every position
    assert len({tuple(m[0]) for m in mutants}) > 20
    assert len({m[1] for m in mutants}) > 20
    assert {m[2] for m in mutants} - {0, 2, 4}


def test_sorted_lists_stay_sorted() -> None:
    base = [[[1, 2, 5, 9], 5], [[0, 3, 4], 4], [[-2, -1, 8, 8], 8]]
    for xs, _ in _mutants(3, base=base):
        assert xs == sorted(xs)


def test_length_argument_follows_its_list() -> None:
    base = [[[4, 1, 3], 3], [[2, 2, 9, 9, 1], 5], [[8], 1]]
    assert infer_relations(base) == [("len", 1, 0)]
    for xs, n in _mutants(4, base=base):
        assert n == len(xs)


def test_boundary_values() -> None:
    mutator = Mutator([[3], [10], [7]], task_rng(0, "T/1"))
    # positive ints: from the smallest base value (no 0, 1 or -1 below it) to 2 x 10 + 10
    # and one large value past the range: 10 x 10 + 10
    assert mutator.boundaries(infer_domain([3, 10, 7])) == [3, 10, 30, 110]
    assert mutator.boundaries(infer_domain([0, 10])) == [0, 1, 10, 30, 110]
    # negatives seen: down to 10 below the smallest; 0 only where a base value is 0
    assert mutator.boundaries(infer_domain([-4, 5])) == [-14, -4, -1, 1, 5, 20, 60]
    assert mutator.boundaries(infer_domain([-4, 0, 5])) == [-14, -4, -1, 0, 1, 5, 20, 60]
    assert mutator.boundaries(infer_domain([-4, -2])) == [-14, -4, -2]
    assert mutator.boundaries(infer_domain([0.0, 2.0])) == [0.0, 6.0]
    assert mutator.boundaries(infer_domain([True, False])) == [True, False]
    assert mutator.boundaries(infer_domain(["ab", "abc"])) == [""]
    assert mutator.boundaries(infer_domain([(1, 2), (3,)])) == [()]
    assert mutator.boundaries(infer_domain([{"a": 1}])) == [{}]
    assert mutator.boundaries(infer_domain([(1, "a"), (2, "b")])) == []  # a record keeps its shape
    boundary = Mutator(BASE, task_rng(0, "T/1")).boundary_inputs()
    assert [[3, 1, 2], "abc", 18, 1.5, (1, "x"), {"a": 1}] in boundary  # 2 x the largest base int + 10
    assert [[3, 1, 2], "abc", 50, 1.5, (1, "x"), {"a": 1}] in boundary  # the large value
    assert [[3, 1, 2], "abc", 2, 8.75, (1, "x"), {"a": 1}] in boundary  # 2 x 3.0 + the span 2.75
    assert all(args[3] != 0.0 for args in boundary)  # no base float is 0
    assert [[], "abc", 2, 1.5, (1, "x"), {"a": 1}] in boundary
    assert [[3, 1, 2], "", 2, 1.5, (1, "x"), {"a": 1}] in boundary


def test_properties_of_the_base_inputs_are_kept() -> None:
    """Distinct elements, rectangular rows, no zero, equal lengths: each held by every base input."""
    base = [
        [[1, -2, 3], [[1, 2], [3, 4]], "abc", "xyz"],
        [[-4, 5, 6, 7], [[5, 6, 7]], "ab", "xy"],
        [[8, 9, -1], [[1, 1], [2, 2], [3, 3]], "abcd", "wxyz"],
    ]
    assert ("same_len", 3, 2) in infer_relations(base)
    mutants = _mutants(6, n=400, base=base)
    for xs, rows, s, t in mutants:
        assert len(set(xs)) == len(xs) and 0 not in xs
        assert len({len(r) for r in rows}) == 1
        assert len(s) == len(t)
    assert len({tuple(m[0]) for m in mutants}) > 50


def test_mixed_types_are_left_alone_but_mixed_elements_take_any_type() -> None:
    base: list[list[Any]] = [[1], ["a"], [None]]
    assert infer_domain([1, "a", None]).kind == "any"
    assert all(m[0] in (1, "a", None) for m in _mutants(5, n=50, base=base))
    # a list whose base elements mix types gets elements of other types too (bool, None, ...): a bool
    # among ints is what HumanEval+ tests filter_integers with
    mutants = _mutants(5, n=200, base=[[[4, {}, "x"]], [[3, "c", 2.5]]])
    kinds = {type(x) for (xs,) in mutants for x in xs}
    assert {bool, type(None), int, str, float, dict} <= kinds


def test_mbpp_call_inputs_from_asserts() -> None:
    tests = [
        "assert f([1, 2], 'x') == 3",
        "assert set(f((1, 2), 'y')) == set((4, 5))",
        "assert math.isclose(f({'a': -1.5}, None), 2.0, rel_tol=0.001)",
        "assert f(x, 1) == 2",  # a name: not a literal
        "assert f([1, 2], k='x') == 3",  # keyword arguments are skipped
        "assert f([1, 2], 'x') == 3",  # a duplicate
        "assert g(1) == 2",
    ]
    assert mbpp_call_inputs(tests, "f") == [[[1, 2], "x"], [(1, 2), "y"], [{"a": -1.5}, None]]


def test_looked_up_values_stay_in_their_container() -> None:
    # MBPP 280 (sequential search): every base test looks up an item that is in the list; what the
    # function answers for a missing item is not specified by them, so no mutant misses it
    base = [[[11, 23, 58, 31, 56], 31], [[12, 32, 45, 62, 35], 62], [[9, 10, 17, 19, 22], 19]]
    assert infer_relations(base) == [("member", 1, 0)]
    mutants = _mutants(7, n=300, base=base)
    assert all(x in xs for xs, x in mutants)
    assert {x for _, x in mutants} - {31, 62, 19}  # the item still moves, within the list
    boundary = Mutator(base, task_rng(0, "T/1")).boundary_inputs()
    assert boundary and all(x in xs for xs, x in boundary)  # the empty list is not one of them
    # one example shows no relation; a character in a string is one; a number is never "in" a string
    assert infer_relations([[[1, 3], 3]]) == []
    assert ("member", 1, 0) in infer_relations([["hello", "l"], ["world", "o"]])
    assert ("member", 1, 0) not in infer_relations([["a1", 1], ["b2", 2]])


def test_a_list_never_longer_than_the_other_stays_so() -> None:
    # MBPP 723 (pairs compared with map(eq, ...)): the second list is never the shorter one
    base = [[[1, 2, 3], [2, 2, 3]], [[0, 1, 2, 3], [2, 1, 2, 3, 4]], [[2], [2, 1, 2]]]
    assert infer_relations(base) == [("len_le", 0, 1)]
    assert all(len(a) <= len(b) for a, b in _mutants(3, n=300, base=base))
    # a list and a string are never related by length (a coincidence of few examples)
    assert infer_relations([[[1], "ab"], [[1, 2], "abc"]]) == []


def test_answers_below_zero_only_where_the_base_answers_go_there() -> None:
    from experiments.bench.augment import in_answer_range

    # MBPP 807/594: -1 (nothing found) where every base answer is a number >= 0
    assert not in_answer_range(-1, [1, 1, 9])
    assert not in_answer_range(-0.5, [0.0, 2.5])
    assert in_answer_range(0, [1, 1, 9])  # zero is not a sign change
    assert in_answer_range(-2, [3, -1, 9])  # the base answers go below zero themselves
    # tuple answers place by place; other answers (bools, strings, lists, None) are not judged
    assert not in_answer_range((True, -1), [(True, 3), (False, 7)])
    assert in_answer_range((-1, True), [(True, 3), (False, 7)])
    assert in_answer_range(False, [True, True])
    assert in_answer_range(None, [1, 2])
    assert in_answer_range([-1], [[1], [2]])
    assert in_answer_range(-1, [])
    assert in_answer_range(-1, [1, "x"])  # a place that not every base answer has


def test_strings_without_whitespace_at_the_ends_keep_none() -> None:
    # MBPP 628 (spaces to %20): its reference strips the string first; no base test has a leading space
    base = [["My Name is Dawood"], ["I am a Programmer"], ["I love Coding"]]
    assert infer_domain([b[0] for b in base]).trimmed
    mutants = _mutants(2, n=300, base=base)
    assert all(s == s.strip() for (s,) in mutants)
    assert any(" " in s for (s,) in mutants)  # inner spaces still move
    assert not infer_domain([" a", "b"]).trimmed
