"""Hypothesis strategies for any request message of the daemon's contract, built from the
generated descriptors (so a new RPC or field is fuzzed without touching this file).

Strings are chosen by field name where the name says what the field is (job ids, paths, emails,
devices, names, options), and by a mix of all of them otherwise. Every generated absolute path
is kept inside a sandbox directory: the daemon under test runs as the test's user (often root)
and really writes where a valid request tells it to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

__all__ = ["Known", "request_strategy", "sanitize"]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

# Absolute paths outside the sandbox that nothing can ever be written under.
SAFE_ABSOLUTE = ("/dev/null/x", "/dev/null/x/y", "/proc/self/nonexistent/x")


@dataclass
class Known:
    """What exists on the live daemon and its Hub, so requests can also name real things."""

    sandbox: Path
    done_job: str
    failed_job: str
    pending_job: str
    model_ids: list[str]
    dlc_files: list[str]
    other_files: list[str]
    device: str
    extra_ids: list[str] = field(default_factory=list)


def sanitize(value: str, sandbox: Path) -> str:
    """Keep absolute paths inside the sandbox: re-root any other, and neutralise ``..`` segments."""
    if not value.startswith("/"):
        return value
    root = str(sandbox)
    if value not in SAFE_ABSOLUTE and value != root and not value.startswith(root + "/"):
        value = root + value
    return re.sub(r"(?<=/)\.\.(?=/|$)", "dd", value)


# -------------------------------------------------------------------------------- building blocks

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
PRINTABLE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40)
CONTROL = st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x1F), min_size=1, max_size=5)
LONG = st.sampled_from([255, 256, 257, 300, 1000, 4096, 4097, 70_000]).flatmap(
    lambda n: st.sampled_from(["a" * n, "é" * n, ("ab/" * n)[:n], "\x00" * min(n, 300)])
)


def weighted(*choices: tuple[int, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """One of ``choices``, a branch of weight w drawn w times as often as one of weight 1."""
    branches = [strategy for _, strategy in choices]
    slots = [i for i, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(slots).flatmap(lambda i: branches[i])


def _with_junk(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A strategy's values, sometimes with control characters, NUL or whitespace worked in."""
    return st.one_of(
        base,
        st.tuples(base, CONTROL).map(lambda t: t[0] + t[1]),
        st.tuples(CONTROL, base).map(lambda t: t[0] + t[1]),
        base.map(lambda s: s[: len(s) // 2] + "\x00" + s[len(s) // 2 :]),
        base.map(lambda s: f"  {s}\t"),
    )


def job_ids(k: Known) -> st.SearchStrategy[str]:
    real = st.sampled_from([k.done_job, k.failed_job, *k.extra_ids])
    return weighted(
        (6, real),
        (1, st.just(k.pending_job)),
        (1, real.map(str.upper)),
        (
            2,
            st.sampled_from(
                [
                    "",
                    " ",
                    "-",
                    "_",
                    ".",
                    "..",
                    "a" * 64,
                    "a" * 65,
                    "j" + "0" * 63,
                    "jnosuchjob",
                    "../../etc/passwd",
                    "j\x00",
                    "ＪＯＢ",
                    "job id",
                    "%00",
                    "j;rm -rf",
                    "\n",
                    "*",
                    "%",
                ]
            ),
        ),
        (2, st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")),
        (1, _with_junk(TEXT)),
        (1, LONG),
    )


def model_ids(k: Known) -> st.SearchStrategy[str]:
    return weighted(
        (4, st.sampled_from(k.model_ids)),
        (1, st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")),
        (1, _with_junk(TEXT)),
        (1, LONG),
        (1, st.just("")),
    )


def emails() -> st.SearchStrategy[str]:
    return weighted(
        (3, st.sampled_from(["friend@example.com", "a@b.co", "test@example.com", "ünï@cödé.example"])),
        (
            2,
            st.sampled_from(
                [
                    "",
                    "@",
                    "a@",
                    "@b.c",
                    "a@@b.c",
                    "a b@c.d",
                    "a@b",
                    "x@y.z,w@v.u",
                    "a@b.c\x00",
                    "<a@b.c>",
                    "a@b.c;DROP TABLE",
                ]
            ),
        ),
        (2, st.emails().map(str)),
        (1, st.integers(60, 70_000).map(lambda n: "a" * n + "@example.com")),
        (1, _with_junk(TEXT)),
    )


def devices(k: Known) -> st.SearchStrategy[str]:
    return weighted(
        (6, st.just(k.device)),
        (1, st.sampled_from([k.device.upper(), k.device + "\x00", k.device + " "])),
        (1, st.sampled_from(["", " ", "Samsung Galaxy S24 (Family)", "No Such Device", "*", "%"])),
        (1, _with_junk(TEXT)),
        (1, LONG),
    )


def names() -> st.SearchStrategy[str]:
    return weighted(
        (2, st.just("")),
        (4, PRINTABLE),
        (2, _with_junk(TEXT)),
        (1, LONG),
        (1, st.sampled_from(["a" * 256, "a" * 257, "名前", "🙂" * 70, "%", "_", "\\"])),
    )


def options() -> st.SearchStrategy[str]:
    return weighted(
        (3, st.just("")),
        (3, PRINTABLE),
        (2, st.sampled_from(["--foo", "--x " * 1000, "a" * 4096, "a" * 4097, "\x00"])),
        (1, _with_junk(TEXT)),
        (1, LONG),
    )


def paths(k: Known) -> st.SearchStrategy[str]:
    root = str(k.sandbox)
    component = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12)
    inside = st.lists(component, min_size=0, max_size=4).map(lambda parts: "/".join([root, "out", *parts]))
    return weighted(
        (6, inside),
        (
            3,
            st.sampled_from(
                [
                    root,
                    f"{root}/existing",
                    f"{root}/afile",
                    f"{root}/afile/sub",
                    f"{root}/dir.dlc",
                    f"{root}/out/{'a' * 300}",
                    f"{root}/out" + "/a" * 2100,
                    f"{root}/out/./x",
                    f"{root}/out//x",
                    f"{root}/out/x/",
                    f"{root}/ne/ne/ne",
                    *k.dlc_files,
                    *k.other_files,
                    *SAFE_ABSOLUTE,
                ]
            ),
        ),
        (
            2,
            st.sampled_from(
                [
                    "",
                    ".",
                    "..",
                    "relative/dir",
                    "~/x",
                    "./x",
                    "x.dlc",
                    " /x",
                    "\x00",
                    "/\x00",
                    f"{root}/out/x\x00y",
                    "file:///etc",
                ]
            ),
        ),
        (1, _with_junk(TEXT)),
    )


def local_models(k: Known) -> st.SearchStrategy[str]:
    root = str(k.sandbox)
    return weighted(
        (6, st.sampled_from(k.dlc_files)),
        (1, st.sampled_from(k.other_files)),
        (
            2,
            st.sampled_from(
                [
                    f"{root}/nonexistent.dlc",
                    f"{root}/dir.dlc",
                    f"{root}/x.DLC",
                    "model.dlc",
                    "",
                    f"{root}/a\x00.dlc",
                    f"{root}/{'a' * 300}.dlc",
                    "/dev/null/x.dlc",
                ]
            ),
        ),
        (1, paths(k)),
    )


def generic(k: Known) -> st.SearchStrategy[str]:
    return st.one_of(job_ids(k), model_ids(k), emails(), devices(k), names(), options(), paths(k))


def string_for(f: FieldDescriptor, k: Known) -> st.SearchStrategy[str]:
    """Strings for a field, chosen by what its name says it holds."""
    name = f.name.lower()
    owner = f.containing_type.name
    if name == "job_id":
        s = job_ids(k)
    elif name == "model_id":
        s = model_ids(k)
    elif "email" in name:
        s = emails()
    elif owner == "ModelInput" and name == "path":
        s = local_models(k)
    elif name in ("destination", "output_dir", "path") or any(w in name for w in ("dir", "path", "file")):
        s = paths(k)
    elif name == "device":
        s = devices(k)
    elif name in ("name", "name_contains"):
        s = names()
    elif name == "options":
        s = options()
    elif name.endswith("_id"):
        s = st.one_of(st.just(""), model_ids(k), st.uuids().map(str))
    else:
        s = generic(k)
    return s.map(lambda v: sanitize(v, k.sandbox))


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = sorted({low, low + 1, -1, 0, 1, 2, 49, 50, 51, 999, 1000, 1001, 2**31 - 1, 2**32 - 1, high - 1, high})
    return st.one_of(
        st.sampled_from([e for e in edges if low <= e <= high]),
        st.integers(low, high),
        st.integers(max(low, 0), min(high, 100)),
    )


def scalar(f: FieldDescriptor, k: Known) -> st.SearchStrategy[object]:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return string_for(f, k)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in f.enum_type.values]
        return st.one_of(st.sampled_from(known), st.sampled_from(known), _integers(*INT32))
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return _integers(*UINT32)
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return _integers(*UINT64)
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return _integers(*INT32)
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return _integers(*INT64)
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if t == FieldDescriptor.TYPE_FLOAT else 64)
    raise NotImplementedError(f"no strategy for field {f.full_name} of type {t}")


def _repeated(element: st.SearchStrategy[object]) -> st.SearchStrategy[list[object]]:
    """Usually a few entries; sometimes very many (one value repeated, so it stays cheap)."""
    few = st.lists(element, min_size=1, max_size=4)
    many = st.tuples(element, st.sampled_from([99, 100, 101, 1000, 5000])).map(lambda t: [t[0]] * t[1])
    return weighted((6, few), (1, many), (1, st.just([])))


def request_strategy(
    descriptor: Descriptor, message_class: type[Message], k: Known, depth: int = 0
) -> st.SearchStrategy[Message]:
    """Requests of ``message_class``: each field absent or set to a random/boundary value."""
    fields: dict[str, st.SearchStrategy[object]] = {}
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3 or f.message_type.GetOptions().map_entry:
                continue
            sub_class = _message_class(message_class, f)
            element: st.SearchStrategy[object] = request_strategy(f.message_type, sub_class, k, depth + 1)
        else:
            element = scalar(f, k)
        repeated = f.label == FieldDescriptor.LABEL_REPEATED
        value = _repeated(element) if repeated else element
        fields[f.name] = weighted((1, st.none()), (3, value))  # absent about a quarter of the time

    def build(values: dict[str, object]) -> Message:
        # Fields are set in descriptor order; setting a second member of a oneof clears the first,
        # exactly as it would on the wire.
        message = message_class()
        for name, value in values.items():
            if value is None:
                continue
            f = descriptor.fields_by_name[name]
            if f.label == FieldDescriptor.LABEL_REPEATED:
                getattr(message, name).extend(value)  # type: ignore[arg-type]
            elif f.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries(fields).map(build)


def _message_class(parent: type[Message], f: FieldDescriptor) -> type[Message]:
    return type(
        getattr(parent(), f.name).add() if f.label == FieldDescriptor.LABEL_REPEATED else getattr(parent(), f.name)
    )
