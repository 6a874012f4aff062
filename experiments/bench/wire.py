"""Plain-data wire format between the Python judge and its sandboxed guest, and the guest itself.

The same file is imported by the judge (encode arguments, decode results) and copied into the
sandbox as the guest program (`python3 -I -S guest.py`): one codec, no drift. It uses the standard
library only, because inside the sandbox there is nothing else.

A value on the wire is JSON with tags for what JSON lacks: {"f": repr} floats (nan, inf, -0.0 exact),
{"t": [...]} tuples, {"d": [[k, v], ...]} dicts, {"s"/"fs": [...]} sets, {"b": hex} bytes,
{"c": [re, im]} complex, {"nl": "1,2.5"} lists of numbers with a float, {"x": hex} ints past
BIG_INT_BITS, {"h": n} an opaque handle to an object that stays in the guest. Decoding builds only
built-in types, so no object from the guest (an always-equal `__eq__`, a forged `bool`) can reach the
judge's comparisons.

Guest protocol: the guest writes one JSON object per line: {"ready": true} or {"load_error": TYPE,
"message": ...} after executing candidate.py; then, for each request, {"ok": VALUE} or {"exc": TYPE,
"message": ...}. Requests {"fn": NAME, "args": [...], "kwargs": {...}} come from the judge as
length-prefixed `marshal` frames: the judge is trusted, and marshal is built in, so the guest starts
without importing `json`/`re`/`typing` (a third of its start-up time). The judge never unmarshals
anything from the guest: it parses the guest's JSON with `json` and `decode_value`.
"""

from __future__ import annotations

import marshal

TYPE_CHECKING = False  # mypy treats this name as true; at run time `typing` is never imported
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DecodeGuard", "Handle", "WireError", "decode_value", "dump_json", "encode_value", "frame_request", "main"]

MAX_DEPTH = 200  # nesting beyond this is not a plausible test value
# A container whose elements hold more than this many *different* values of one hash is an attack on
# Python's hash tables (ints collide modulo 2**61 - 1; tuples and floats follow): building a set of
# n of them, or comparing it, costs n**2. Honest values have at most a couple (hash(-1) == hash(-2)).
MAX_SAME_HASH = 8
_CHECK_EVERY = 4096  # nodes between deadline checks
# Element types whose hashes a guest can make collide (str and bytes hashes are keyed per process).
_COLLIDABLE = (int, float, complex, tuple, frozenset)
BIG_INT_BITS = 10_000  # ~3010 decimal digits, under CPython's default 4300-digit str/int conversion limit


class WireError(ValueError):
    """A value that cannot cross the wire (unknown tag, too deep, unhashable key)."""


class Handle:
    """An opaque reference to an object that lives in the guest; equal only to itself."""

    __slots__ = ("ref",)

    def __init__(self, ref: int) -> None:
        self.ref = ref

    def __repr__(self) -> str:
        return f"<guest object #{self.ref}>"


def _number_list(value: list[Any]) -> str | None:
    """A list of floats (and small ints) with at least one float, as one "1,2.5,nan" string; else None.

    Millions of numbers (HumanEval/130's outputs) then cost one repr each instead of a tagged dict
    and a recursive dump per item. A float's repr always has ".", "e", "inf" or "nan"; an int's not.
    """
    parts = []
    has_float = False
    for v in value:
        kind = type(v)
        if kind is float:
            has_float = True
            parts.append(float.__repr__(v))
        elif kind is int and v.bit_length() <= BIG_INT_BITS:
            parts.append(int.__repr__(v))
        else:
            return None
    return ",".join(parts) if has_float else None


def encode_value(value: Any, handles: list[Any] | None = None, depth: int = 0) -> Any:
    """Encode `value` for the wire; unknown objects become handles when `handles` is given.

    Subclasses of built-ins (Counter, OrderedDict, namedtuple, IntEnum) travel as their base type,
    which is how they compare in the original harness.
    """
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or type(value) is bool:
        return value
    if isinstance(value, Handle):
        return {"h": value.ref}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        number = int(value)
        # Past ~3000 digits, decimal text hits Python's int_max_str_digits (and costs quadratic time):
        # hexadecimal is linear and unlimited, and as canonical.
        return number if number.bit_length() <= BIG_INT_BITS else {"x": format(number, "x")}
    if isinstance(value, float):
        return {"f": float.__repr__(float(value))}
    if isinstance(value, complex):
        c = complex(value)
        return {"c": [float.__repr__(c.real), float.__repr__(c.imag)]}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, tuple):
        return {"t": [encode_value(v, handles, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, list):
        numbers = _number_list(value) if type(value) is list else None
        if numbers is not None:
            return {"nl": numbers}
        return [encode_value(v, handles, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, dict):
        items = dict.items(value)
        return {"d": [[encode_value(k, handles, depth + 1), encode_value(v, handles, depth + 1)] for k, v in items]}
    if isinstance(value, frozenset):
        return {"fs": [encode_value(v, handles, depth + 1) for v in frozenset.__iter__(value)]}
    if isinstance(value, set):
        return {"s": [encode_value(v, handles, depth + 1) for v in set.__iter__(value)]}
    if handles is not None:
        handles.append(value)
        return {"h": len(handles) - 1}
    raise WireError(f"cannot send a {type(value).__name__}")


class DecodeGuard:
    """Bounds the judge's work on a guest's answer: a deadline, and no hash-flooded containers."""

    def __init__(self, deadline: float) -> None:
        import time

        self._clock = time.monotonic
        self.deadline = deadline
        self._nodes = 0

    def tick(self) -> None:
        self._nodes += 1
        if self._nodes % _CHECK_EVERY == 0 and self._clock() > self.deadline:
            raise WireError("answer not decoded before the sample's deadline")

    def check_collisions(self, items: Any) -> None:
        """Refuse `items` when more than MAX_SAME_HASH different values share one hash (O(n) work)."""
        buckets: dict[int, list[Any]] = {}
        for n, item in enumerate(items):
            if n % _CHECK_EVERY == 0 and self._clock() > self.deadline:
                raise WireError("answer not decoded before the sample's deadline")
            if not isinstance(item, _COLLIDABLE):
                continue
            try:
                bucket = buckets.setdefault(hash(item), [])
            except TypeError:  # a tuple holding a list: unhashable, nothing to flood
                continue
            if len(bucket) <= MAX_SAME_HASH and not any(item is v or item == v for v in bucket):
                bucket.append(item)
                if len(bucket) > MAX_SAME_HASH:
                    raise WireError("too many values with the same hash")


def decode_value(data: Any, depth: int = 0, guard: DecodeGuard | None = None) -> Any:
    """Rebuild a value from its wire form, using built-in types (and Handle) only.

    The judge passes a `guard` for answers from the guest: decoding then stops at the sample's
    deadline and refuses hash-flooded containers, so its cost is linear in the answer's size.
    """
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if guard is not None:
        guard.tick()
    kind = type(data)
    if data is None or kind in (bool, int, str):
        return data
    if kind is list:
        out = [decode_value(v, depth + 1, guard) for v in data]
        if guard is not None:
            guard.check_collisions(out)
        return out
    if kind is not dict or len(data) != 1:
        raise WireError("malformed value")
    tag, body = next(iter(data.items()))
    try:
        if tag == "f":
            return float(body)
        if tag == "nl":
            if type(body) is not str:
                raise WireError("malformed number list")
            return [int(v) if v.lstrip("-").isdigit() else float(v) for v in body.split(",")]
        if tag == "x":
            if type(body) is not str:
                raise WireError("malformed big int")
            return int(body, 16)
        if tag == "c":
            return complex(float(body[0]), float(body[1]))
        if tag == "b":
            return bytes.fromhex(body)
        if tag == "h":
            if type(body) is not int:
                raise WireError("malformed handle")
            return Handle(body)
        items = [decode_value(v, depth + 1, guard) for v in body] if tag != "d" else None
        if guard is not None and items is not None:
            guard.check_collisions(items)
        if tag == "t":
            return tuple(items or ())
        if tag == "s":
            return set(items or ())
        if tag == "fs":
            return frozenset(items or ())
        if tag == "d":
            pairs = [(decode_value(k, depth + 1, guard), decode_value(v, depth + 1, guard)) for k, v in body]
            if guard is not None:
                guard.check_collisions(k for k, _ in pairs)
            return dict(pairs)
    except (TypeError, ValueError, IndexError) as exc:
        raise WireError(f"malformed {tag!r} value: {exc}") from None
    raise WireError(f"unknown tag {tag!r}")


# JSON string escapes: quote, backslash, control characters, and lone surrogates (not UTF-8 encodable).
_JSON_ESCAPES = {i: f"\\u{i:04x}" for i in (*range(0x20), *range(0xD800, 0xE000))}
_JSON_ESCAPES[ord('"')] = '\\"'
_JSON_ESCAPES[ord("\\")] = "\\\\"


def dump_json(value: Any) -> str:
    """Serialize an encoded wire value (None/bool/int/str/list/dict with str keys) as JSON text.

    The guest's own encoder, so that it need not import `json`; `json.loads` reads it back exactly.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return '"' + str.translate(value, _JSON_ESCAPES) + '"'
    if kind is list:
        if all(type(v) is int for v in value):  # the common list of ints, in C (big ints are {"x"} already)
            return "[" + ",".join(map(int.__repr__, value)) + "]"
        return "[" + ",".join([dump_json(v) for v in value]) + "]"
    if kind is dict:
        return "{" + ",".join([dump_json(k) + ":" + dump_json(v) for k, v in value.items()]) + "}"
    raise WireError(f"not an encoded wire value: {kind.__name__}")


def frame_request(request: dict[str, Any]) -> bytes:
    """Judge side: one request as a length-prefixed marshal frame (trusted data only)."""
    payload = marshal.dumps(request)
    return len(payload).to_bytes(4, "big") + payload


def _read_frame(stream: Any) -> Any:
    """Guest side: the next request frame, or None when the judge closed the pipe."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    return marshal.loads(stream.read(int.from_bytes(header, "big")))


def _resolve(value: Any, handles: list[Any]) -> Any:
    """Guest side: replace Handle objects in decoded arguments by the objects they name."""
    if isinstance(value, Handle):
        return handles[value.ref]
    if type(value) is list:
        return [_resolve(v, handles) for v in value]
    if type(value) is tuple:
        return tuple(_resolve(v, handles) for v in value)
    if type(value) is dict:
        return {k: _resolve(v, handles) for k, v in value.items()}
    return value


class _InputTimeout(BaseException):  # noqa: N818 - BaseException: `except Exception` in candidates misses it
    """The per-input time limit of a batch passed (SIGALRM)."""


def serve_batch(namespace: dict[str, Any], request: dict[str, Any], write_line: Any) -> None:
    """Guest side: call one function on every input of a batch file, one answer line per input.

    The batch file (a marshal dict from the judge: "fn", "inputs" as wire values, "limits" in
    seconds) enters the sandbox as a file, so no large write to the guest's stdin can block the judge.
    Answers: {"i": n, "ok": VALUE, "ns": call time} | {"i": n, "exc": TYPE, "message": ...} |
    {"i": n, "timeout": true}, then {"done": count}. With "stop" set, the first exception or timeout
    ends the batch (a wrong value is only known to the judge, which stops reading); with "discard"
    set, values are not sent ("ok": null: only whether each call returned).
    """
    import signal
    import time

    with open(request["batch_file"], "rb") as fh:
        batch = marshal.load(fh)
    fn = namespace.get(batch["fn"])
    limits = batch["limits"]

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise _InputTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    count = 0
    for i, data in enumerate(batch["inputs"]):
        count += 1
        failed = True
        try:
            args = decode_value(data)
            signal.setitimer(signal.ITIMER_REAL, limits[i])
            start = time.perf_counter_ns()
            try:
                result = fn(*args)  # type: ignore[misc]
            finally:
                elapsed = time.perf_counter_ns() - start
                signal.setitimer(signal.ITIMER_REAL, 0)
            value = None if batch.get("discard") else encode_value(result)
            line = dump_json({"i": i, "ok": value, "ns": elapsed})
            failed = False
        except _InputTimeout:
            line = dump_json({"i": i, "timeout": True})
        except BaseException as exc:  # noqa: BLE001 - the candidate's exception, or an unsendable result
            line = dump_json({"i": i, "exc": type(exc).__name__, "message": str(exc)[:300]})
        write_line(line)
        if failed and batch.get("stop"):
            break
    write_line(dump_json({"done": count}))


def main() -> None:
    """Guest entry point: load /work/candidate.py, then serve calls until stdin closes."""
    import os
    import sys

    # Keep private copies of the protocol pipes, then point fds 0/1 elsewhere so the candidate's
    # prints and input() cannot interleave with protocol lines.
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115

    def write_line(text: str) -> None:
        proto_out.write(text.encode() + b"\n")
        proto_out.flush()

    def send(obj: dict[str, Any]) -> None:
        write_line(dump_json(obj))

    with open("/work/candidate.py", encoding="utf-8") as fh:
        source = fh.read()
    namespace: dict[str, Any] = {"__name__": "candidate"}
    try:
        code = compile(source, "candidate.py", "exec")
        exec(code, namespace)  # noqa: S102 - this *is* the sandbox
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        send({"load_error": type(exc).__name__, "message": str(exc)[:300]})
        return
    send({"ready": True})
    handles: list[Any] = []
    while (request := _read_frame(proto_in)) is not None:
        if "batch_file" in request:  # plus.py: many inputs, one answer line each
            serve_batch(namespace, request, write_line)
            continue
        try:
            fn = namespace[request["fn"]]
            args = [_resolve(decode_value(a), handles) for a in request["args"]]
            kwargs = {k: _resolve(decode_value(v), handles) for k, v in request["kwargs"].items()}
            result = fn(*args, **kwargs)
            answer: dict[str, Any] = {"ok": encode_value(result, handles)}
        except BaseException as exc:  # noqa: BLE001
            answer = {"exc": type(exc).__name__, "message": str(exc)[:300]}
        try:
            send(answer)
        except Exception as exc:  # noqa: BLE001 - e.g. an int too large to print
            send({"exc": type(exc).__name__, "message": "result could not be sent"})


if __name__ == "__main__":
    main()
