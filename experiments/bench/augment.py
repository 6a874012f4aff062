"""Type-aware mutation of a task's base test inputs (EvalPlus's method, without its LLM seeding); pure.

    base inputs (MBPP asserts parsed with `ast`, or an EvalPlus row's `base_input`)
        -> per argument position, the domain the base inputs show: type, element types, sign,
           non-emptiness, the characters a string uses and whether it is trimmed, sortedness;
           between arguments, "n is len(xs)", "k indexes xs", "x is in xs", "xs is never longer
           than ys" (`infer_domains`, `infer_relations`)
        -> mutants: EvalPlus's typed mutations (int +-1, float jitter, string insert/cut/repeat,
           list remove/insert/repeat/change, dict add/remove/change, ingredients taken from the
           base values), kept inside that domain, plus boundary values (`Mutator`)
        -> augment_reference.py keeps the mutants that the reference solution answers, twice alike.

The facts follow evalplus 0.3 (`evalplus/gen/type_mut.py`: the mutation operators and ingredient
probabilities); the domain inference is ours: without a hand-written contract, a mutant that leaves
what the base inputs exercise (a negative n, a zero, a string with new characters, ragged rows) is
more likely an invalid input than a bug, so it is not generated (nor is a looked-up value missing
from its container, or whitespace at a string's ends where the base inputs have none).
augment_reference.py also drops an input whose reference answer turns negative where every base
answer is >= 0 (`in_answer_range`): the reference's convention on a path the base tests never take
(a -1 for "not found"). The boundary inputs step out on purpose, once per argument: an empty string
or container, one large int (where the reference raises or is slow on them, they are dropped).
Deterministic for a seed and task id.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUGMENT_VERSION",
    "Domain",
    "Mutator",
    "infer_domain",
    "fits",
    "holds",
    "in_answer_range",
    "infer_relations",
    "mbpp_call_inputs",
    "task_rng",
]

# Bump when a change can change the generated inputs for a seed: cached augmentations are keyed by it.
AUGMENT_VERSION = "codesieve-augment/5"
# Salt of the per-task random stream, fixed since version 2: a new version (new rules, a new cache)
# keeps the same random choices, so its figures differ from the last by the rules, not by luck.
RNG_SALT = "codesieve-augment/2"
# Caps that keep a mutant about as costly to run as the base inputs: a correct but slower candidate
# gets 4x the reference's time (plus.py), so a giant input would judge speed, not correctness.
MAX_LEN_FACTOR = 2
MIN_LEN_CAP = 10
INT_SPAN = 10  # ints stay within [lo - span, 2 * hi + span] (sign kept)
MAX_DEPTH = 6
LARGE_FACTOR = 10  # the large boundary int: 10 x the largest base value + INT_SPAN
ANY_VALUES: tuple[Any, ...] = (True, False, None, 0, 1, -1, 2.5, "", "a", [], (), {})
MAX_TRIES = 10  # mutants tried per new input before one that keeps the base inputs' properties


# ------------------------------------------------------------------ base inputs


def mbpp_call_inputs(tests: Sequence[str], entry_point: str) -> list[list[Any]]:
    """The argument lists of the first call to `entry_point` in each MBPP assert.

    `assert f(1, [2]) == 3` gives [1, [2]]. Asserts whose call has keyword or non-literal
    arguments (a name, an expression) are skipped: only literal values can be mutated.
    """
    out: list[list[Any]] = []
    for test in tests:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        call = next(
            (
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point
            ),
            None,
        )
        if call is None or call.keywords:
            continue
        try:
            args = [ast.literal_eval(arg) for arg in call.args]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if args not in out:
            out.append(args)
    return out


def task_rng(seed: int, task_id: str) -> random.Random:
    """A generator seeded by (seed, task id) only: a task's inputs do not depend on the others."""
    digest = hashlib.sha256(f"{RNG_SALT}:{seed}:{task_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ------------------------------------------------------------------ domains


@dataclass
class Domain:
    """What the base values at one position look like; `kind` "any" is left alone by the mutator."""

    kind: str  # bool | int | float | str | list | tuple | set | dict | none | any
    lo: float = 0.0
    hi: float = 0.0
    min_len: int = 0
    max_len: int = 0
    chars: str = ""  # every character the base strings use, sorted
    trimmed: bool = False  # strings: no base value starts or ends with whitespace (a reference may strip it)
    is_sorted: bool = False
    nonzero: bool = False  # numbers: no base value is 0 (zero is where sign-based specs are ambiguous)
    distinct: bool = False  # sequences: no base value repeats an element
    rectangular: bool = False  # sequences of sequences: within each base value, all of one length
    elem: Domain | None = None  # list/set/tuple elements; dict keys
    value: Domain | None = None  # dict values
    items: tuple[Domain, ...] = ()  # fixed-length tuples: one domain per position
    samples: list[Any] = field(default_factory=list, repr=False)  # ingredients (EvalPlus's name)


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    for t in (bool, int, float, str, list, tuple, set, dict):
        if type(value) is t:
            return t.__name__
    return "any"


def _sorted(value: Sequence[Any]) -> bool:
    try:
        return all(a <= b for a, b in zip(value, value[1:], strict=False))
    except TypeError:
        return False


def _distinct(value: Sequence[Any]) -> bool:
    try:
        return len(set(value)) == len(value)
    except TypeError:  # unhashable elements
        return False


def _rectangular(value: Sequence[Any]) -> bool:
    if not value or not all(isinstance(v, (list, tuple)) for v in value):
        return False
    return len({len(v) for v in value}) == 1


def fits(value: Any, dom: Domain) -> bool:
    """Whether `value` keeps the properties the mutator cannot keep by construction (no zero where
    the base has none, no whitespace at a string's ends where the base has none, distinct elements,
    rectangular rows), recursively."""
    if dom.kind in ("int", "float"):
        return not (dom.nonzero and value == 0)
    if dom.kind == "str" and isinstance(value, str):
        return not (dom.trimmed and value != value.strip())
    if dom.kind in ("list", "tuple") and isinstance(value, (list, tuple)):
        if (dom.distinct and not _distinct(value)) or (dom.rectangular and value and not _rectangular(value)):
            return False
        if dom.items:
            return all(fits(v, d) for v, d in zip(value, dom.items, strict=False))
        return dom.elem is None or all(fits(v, dom.elem) for v in value)
    if dom.kind == "dict" and isinstance(value, dict) and dom.value is not None:
        return all(fits(v, dom.value) for v in value.values())
    return True


def infer_domain(values: Sequence[Any], depth: int = 0) -> Domain:
    """The domain of the values seen at one position (all base inputs' argument i, or the elements
    of those arguments). Mixed types (other than int with float, which is float) give "any"."""
    kinds = {_kind(v) for v in values}
    if kinds == {"int", "float"}:
        kinds = {"float"}
        values = [float(v) for v in values]
    if len(kinds) != 1 or depth > MAX_DEPTH:
        return Domain("any", samples=list(values))
    kind = kinds.pop()
    dom = Domain(kind, samples=list(values))
    if kind in ("int", "float"):
        dom.lo, dom.hi = min(values), max(values)
        dom.nonzero = all(v != 0 for v in values)
    elif kind == "str":
        lengths = [len(v) for v in values]
        dom.min_len, dom.max_len = min(lengths), max(lengths)
        dom.chars = "".join(sorted(set("".join(values))))
        dom.trimmed = all(v == v.strip() for v in values)
    elif kind in ("list", "tuple", "set"):
        lengths = [len(v) for v in values]
        dom.min_len, dom.max_len = min(lengths), max(lengths)
        if kind == "tuple" and len(set(lengths)) == 1 and lengths[0] and len(values) > 1:
            positional = [infer_domain([v[i] for v in values], depth + 1) for i in range(lengths[0])]
            if len({d.kind for d in positional}) > 1:  # a record, e.g. (name, age): keep its shape
                dom.items = tuple(positional)
        elements = [e for v in values for e in v]
        if elements:
            dom.elem = infer_domain(elements, depth + 1)
        dom.is_sorted = kind == "list" and any(len(v) > 2 for v in values) and all(_sorted(v) for v in values)
        dom.distinct = kind != "set" and any(len(v) > 2 for v in values) and all(_distinct(v) for v in values)
        dom.rectangular = any(len(v) > 1 for v in values) and all(_rectangular(v) for v in values)
    elif kind == "dict":
        lengths = [len(v) for v in values]
        dom.min_len, dom.max_len = min(lengths), max(lengths)
        keys = [k for v in values for k in v]
        if keys:
            dom.elem = infer_domain(keys, depth + 1)
            dom.value = infer_domain([x for v in values for x in v.values()], depth + 1)
    return dom


def infer_relations(inputs: Sequence[Sequence[Any]]) -> list[tuple[str, int, int]]:
    """Relations that hold in every base input between an int argument j and a sized argument i:
    ("len", j, i) when args[j] == len(args[i]), else ("index", j, i) when 0 <= args[j] <= len(args[i]);
    between any scalar argument j and a sized one i: ("member", j, i) when args[j] in args[i] (the
    base tests only look up what is there: what the function answers otherwise, a -1, a None, a
    length, is not specified by them); between two sized arguments: ("same_len", j, i) when they
    are always as long as each other, else ("len_le", j, i) when args[j] is never the longer (both
    of one type)."""
    if not inputs or len({len(args) for args in inputs}) != 1:
        return []
    arity = len(inputs[0])
    out = []
    for j in range(arity):
        if not all(type(args[j]) is int for args in inputs):
            continue
        for i in range(arity):
            if i == j or not all(isinstance(args[i], (list, tuple, str)) for args in inputs):
                continue
            if all(args[j] == len(args[i]) for args in inputs):
                out.append(("len", j, i))
                break
            if len(inputs) > 1 and all(0 <= args[j] <= len(args[i]) for args in inputs):
                out.append(("index", j, i))
                break
    sized = [i for i in range(arity) if all(isinstance(args[i], (list, tuple, str)) for args in inputs)]
    if len(inputs) < 2:  # one example shows no relation
        return out
    for j in range(arity):
        if any(isinstance(args[j], (list, tuple, dict, set)) for args in inputs):
            continue
        out.extend(("member", j, i) for i in sized if i != j and all(_member(args[j], args[i]) for args in inputs))
    for n, i in enumerate(sized):
        for j in sized[n + 1 :]:
            if all(len(args[i]) == len(args[j]) for args in inputs):
                out.append(("same_len", j, i))
            elif any(type(args[i]) is not type(args[j]) for args in inputs):
                continue  # a list never longer than a string: a coincidence of a few examples
            elif all(len(args[j]) <= len(args[i]) for args in inputs):
                out.append(("len_le", j, i))
            elif all(len(args[i]) <= len(args[j]) for args in inputs):
                out.append(("len_le", i, j))
    return out


def _member(x: Any, container: Any) -> bool:
    if isinstance(container, str) and not isinstance(x, str):
        return False
    try:
        return bool(x in container)
    except TypeError:
        return False


def holds(relation: tuple[str, int, int], args: Sequence[Any]) -> bool:
    """Whether one input keeps a relation that mutation cannot restore by construction."""
    rel, j, i = relation
    try:
        if rel == "same_len":
            return len(args[i]) == len(args[j])
        if rel == "len_le":
            return len(args[j]) <= len(args[i])
        if rel == "member":
            return _member(args[j], args[i])
    except TypeError:  # a mutant of another type at that position
        return False
    return True


def _numbers(answer: Any) -> dict[tuple[int, ...], float]:
    """The numbers of an answer by place: the answer itself, or each position of a tuple answer."""

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if number(answer):
        return {(): answer}
    if isinstance(answer, tuple):
        return {(k,): v for k, v in enumerate(answer) if number(v)}
    return {}


def in_answer_range(answer: Any, base_answers: Sequence[Any]) -> bool:
    """False for a negative number where every base answer has a number >= 0 (at the same place):
    a -1 or a difference that turns negative is the reference's answer on a path the base tests
    never take (nothing found, an empty input), whose convention the task does not specify."""
    if not base_answers:
        return True
    seen = [_numbers(a) for a in base_answers]
    for place, value in _numbers(answer).items():
        values = [m[place] for m in seen if place in m]
        if len(values) == len(base_answers) and value < 0 <= min(values):
            return False
    return True


# ------------------------------------------------------------------ mutation


class Mutator:
    """EvalPlus's typed mutations over one task's argument domains, with a task-seeded generator."""

    def __init__(self, base_inputs: Sequence[Sequence[Any]], rng: random.Random) -> None:
        self.rng = rng
        self.arity = len(base_inputs[0]) if base_inputs else 0
        same_arity = [list(a) for a in base_inputs if len(a) == self.arity]
        self.domains = [infer_domain([a[i] for a in same_arity]) for i in range(self.arity)]
        self.relations = infer_relations(same_arity)
        self.seeds = same_arity

    # -- whole inputs

    def mutant(self, pool: Sequence[Sequence[Any]]) -> list[Any]:
        """One new input: a random input of `pool`, one argument mutated, relations restored; an
        input of the pool again when no try keeps the base inputs' properties (the caller dedups)."""
        seed = list(self.rng.choice(pool))
        movable = [i for i, d in enumerate(self.domains) if d.kind not in ("any", "none")]
        for _ in range(MAX_TRIES if movable else 0):
            args = copy.deepcopy(seed)
            i = self.rng.choice(movable)
            try:
                args[i] = self.mutate(args[i], self.domains[i])
                args = self._restore_relations(args, changed=i)
                if self.admissible(args):
                    return args
            except (TypeError, ValueError, RecursionError):  # a value the operators cannot handle: next try
                continue
        return copy.deepcopy(seed)

    def admissible(self, args: Sequence[Any]) -> bool:
        """The properties of the base inputs that mutation may break: per argument (`fits`), and
        the relations between arguments (`holds`)."""
        if not all(holds(relation, args) for relation in self.relations):
            return False
        return all(fits(a, d) for a, d in zip(args, self.domains, strict=True))

    def boundary_inputs(self) -> list[list[Any]]:
        """Each base input with one argument set to a boundary value of its domain."""
        out = []
        for seed in self.seeds:
            for i, dom in enumerate(self.domains):
                for value in self.boundaries(dom):
                    args = copy.deepcopy(seed)
                    args[i] = value
                    args = self._restore_relations(args, changed=i)
                    if self.admissible(args):
                        out.append(args)
        return out

    def _restore_relations(self, args: list[Any], changed: int) -> list[Any]:
        for rel, j, i in self.relations:
            if rel == "len":
                args[j] = len(args[i])
            elif rel in ("same_len", "len_le", "member"):
                continue  # checked by admissible(): no single repair fits every type
            elif changed == j or not 0 <= args[j] <= len(args[i]):
                args[j] = max(0, min(args[j], len(args[i])))
        return args

    # -- boundary values

    def boundaries(self, dom: Domain) -> list[Any]:
        """Edge values: the smallest and largest number allowed, -1, 0 and 1 where allowed, one large
        int; the empty string or container (only as a whole argument: boundary_inputs(), never
        inside a mutated value, where mutants keep the base values' lengths)."""
        if dom.kind == "int":
            lo, hi = self._int_range(dom)
            edges = {lo, hi, 0, 1, -1, int(dom.lo), int(dom.hi)}
            kept = sorted(v for v in edges if lo <= v <= hi and not (dom.nonzero and v == 0))
            # one large value past the range: it finds exponential or deeply recursive solutions (a
            # correct answer must come within 4x the reference's time); dropped where the reference is slow
            return kept + [LARGE_FACTOR * int(dom.hi) + INT_SPAN] if dom.hi > 0 else kept
        if dom.kind == "float":
            lo_f, hi_f = self._float_range(dom)
            return sorted({v for v in (0.0, lo_f, hi_f) if lo_f <= v <= hi_f and not (dom.nonzero and v == 0)})
        if dom.kind == "bool":
            return [True, False]
        if dom.kind == "str":
            return [""]
        if dom.kind in ("list", "tuple", "set", "dict") and not dom.items:
            return [{} if dom.kind == "dict" else _make(dom.kind, [])]
        return []

    # -- values

    def mutate(self, value: Any, dom: Domain, depth: int = 0) -> Any:
        """A mutated copy of `value`, inside `dom` (EvalPlus's `typed_mutate`, with domain limits)."""
        kind = dom.kind
        if kind == "any" and depth > 0:
            # an element of a container whose base values mix types: the function takes any type there
            # (EvalPlus's `any_gen`): a value seen there, or one of each built-in type. A bool among
            # ints stays: HumanEval+ tests exactly that (filter_integers), though MBPP+ does not.
            return self._ingredient(dom, 0.5) if self.rng.random() < 0.5 else copy.deepcopy(self.rng.choice(ANY_VALUES))
        if depth > MAX_DEPTH or kind in ("any", "none") or _kind(value) != kind and kind != "float":
            return value
        if kind == "bool":
            return not value
        if kind == "int":
            return self._mutate_int(value, dom)
        if kind == "float":
            return self._mutate_float(float(value), dom)
        if kind == "str":
            return self._mutate_str(value, dom)
        if kind in ("list", "tuple", "set"):
            if dom.items and len(value) == len(dom.items):
                i = self.rng.randrange(len(dom.items))
                out = list(value)
                out[i] = self.mutate(out[i], dom.items[i], depth + 1)
                return tuple(out)
            return _make(kind, self._mutate_seq(list(value), dom, depth))
        if kind == "dict":
            return self._mutate_dict(dict(value), dom, depth)
        return value

    def _ingredient(self, dom: Domain, probability: float) -> Any:
        """EvalPlus's `use_ingredient`: with this probability, a value seen at this position."""
        if dom.samples and self.rng.random() < probability:
            return copy.deepcopy(self.rng.choice(dom.samples))
        return None

    def _int_range(self, dom: Domain) -> tuple[int, int]:
        # with negatives seen, a little past the smallest; else never below the smallest base value
        lo = int(dom.lo) - INT_SPAN if dom.lo < 0 else int(dom.lo)
        hi = 2 * int(dom.hi) + INT_SPAN if dom.hi >= 0 else int(dom.hi)
        return lo, max(lo, hi)

    def _mutate_int(self, value: int, dom: Domain) -> int:
        lo, hi = self._int_range(dom)
        picked = self._ingredient(dom, 0.3)
        if picked is None:
            roll = self.rng.random()
            if roll < 0.5:
                picked = value + self.rng.choice((-1, 1))
            elif roll < 0.8:
                picked = self.rng.randint(lo, hi)
            else:
                picked = self.rng.choice(self.boundaries(dom) or [value])
        return max(lo, min(hi, int(picked)))  # the large boundary only in boundary_inputs()

    def _float_range(self, dom: Domain) -> tuple[float, float]:
        span = max(1.0, abs(dom.hi - dom.lo))
        lo = 0.0 if dom.lo >= 0 else dom.lo - span
        return lo, max(dom.hi * 2 + span, lo)

    def _mutate_float(self, value: float, dom: Domain) -> float:
        lo, hi = self._float_range(dom)
        picked = self._ingredient(dom, 0.1)
        if picked is None:
            if self.rng.random() < 0.5:
                picked = value + self.rng.uniform(-1, 1)
            else:
                picked = value * (1 + self.rng.uniform(-0.5, 0.5))
        return max(lo, min(hi, float(picked)))

    def _max_len(self, dom: Domain) -> int:
        return max(MIN_LEN_CAP, MAX_LEN_FACTOR * dom.max_len)

    def _mutate_str(self, value: str, dom: Domain) -> str:
        rng = self.rng
        chars = dom.chars or "ab"
        choice = rng.randrange(4) if value else 0
        if choice == 0:  # insert an ingredient (a base string or one of its words) or a character
            idx = rng.randint(0, len(value))
            words = [w for s in dom.samples for w in s.split()] or list(chars)
            piece = rng.choice(words) if rng.random() < 0.4 else rng.choice(chars)
            out = value[:idx] + piece + value[idx:]
        elif choice == 1:  # replace a substring with nothing or a mutated copy
            start = rng.randrange(len(value))
            end = rng.randint(start + 1, len(value))
            mid = "" if rng.random() < 0.5 else self._mutate_str(value[start:end], dom)
            out = value[:start] + mid + value[end:]
        elif choice == 2:  # repeat one character
            idx = rng.randrange(len(value))
            out = value[:idx] + value[rng.randint(idx, len(value) - 1)] + value[idx:]
        else:  # change one character
            idx = rng.randrange(len(value))
            out = value[:idx] + rng.choice(chars) + value[idx + 1 :]
        if len(out) < dom.min_len or len(out) > self._max_len(dom):
            return value
        return out

    def _mutate_seq(self, items: list[Any], dom: Domain, depth: int) -> list[Any]:
        rng, elem = self.rng, dom.elem
        if elem is None:
            return items  # only empty values seen: no element type to build from
        choice = rng.randrange(4) if items else 1
        if choice == 0 and len(items) > dom.min_len:  # remove one element
            items.pop(rng.randrange(len(items)))
        elif choice == 1 and len(items) < self._max_len(dom):  # insert a mutated element
            source = rng.choice(items) if items else rng.choice(elem.samples)
            items.insert(rng.randint(0, len(items)), self.mutate(copy.deepcopy(source), elem, depth + 1))
        elif choice == 2 and items and len(items) < self._max_len(dom):  # repeat one element
            items.append(copy.deepcopy(rng.choice(items)))
        elif items:  # change one element in place
            idx = rng.randrange(len(items))
            items[idx] = self.mutate(items[idx], elem, depth + 1)
        if dom.is_sorted:
            try:
                items.sort()
            except TypeError:  # an element that does not compare with the others
                return sorted(items, key=repr)
        return items

    def _mutate_dict(self, value: dict[Any, Any], dom: Domain, depth: int) -> dict[Any, Any]:
        rng = self.rng
        if dom.elem is None or dom.value is None:
            return value
        choice = rng.randrange(3) if value else 1
        if choice == 0 and len(value) > dom.min_len:  # remove a key
            del value[rng.choice(list(value))]
        elif choice == 1 and len(value) < self._max_len(dom):  # add a mutated key and value
            key = self.mutate(rng.choice(list(value) or dom.elem.samples), dom.elem, depth + 1)
            source = copy.deepcopy(rng.choice(list(value.values()) or dom.value.samples))
            val = self.mutate(source, dom.value, depth + 1)
            try:
                value[key] = val
            except TypeError:  # an unhashable key
                pass
        elif value:  # change a value
            key = rng.choice(list(value))
            value[key] = self.mutate(value[key], dom.value, depth + 1)
        return value


def _make(kind: str, items: list[Any]) -> Any:
    if kind == "tuple":
        return tuple(items)
    if kind == "set":
        try:
            return set(items)
        except TypeError:
            return items
    return items
