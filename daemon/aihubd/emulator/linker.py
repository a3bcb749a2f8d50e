"""The emulated link step: input DLC models in, one deterministic "context binary" out.

Container format (version 1); integers are little-endian::

    offset 0      8 bytes   magic  b"QHUBLNK\\0"
    offset 8      u32       format version (1)
    offset 12     u32       H, length of the header
    offset 16     H bytes   header: UTF-8 JSON, sorted keys, no whitespace
    offset 16+H   ...       payload: the unique chunks, concatenated in order of
                            first appearance

The header is::

    {"chunk_size": C, "device": "<device name>", "options": "<job options>",
     "format": "aihubd-emulated-context-binary",
     "graphs": [{"name": "<model name stem>", "size": n, "sha256": "<hex>",
                 "chunks": [i, ...]}, ...],
     "chunks": [{"offset": o, "size": s, "sha256": "<hex>"}, ...]}

Each input is cut into fixed-size chunks of C bytes (the last one may be
shorter); a chunk whose bytes were already seen is stored once and referenced by
index, so byte runs shared between inputs (at chunk-aligned positions) are stored
once. Graph *k* is the concatenation of ``chunks[i]`` for ``i`` in
``graphs[k]["chunks"]`` (see ``extract_graph``). Nothing job-specific (ids,
times) goes into the container, so the same inputs, device and options give a
byte-identical output.

A link fails (``plan_failure``) when an input is empty or was never uploaded,
when the same model id is listed twice, or when two inputs have identical content.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAGIC",
    "LinkInput",
    "LinkOutput",
    "device_log",
    "extract_graph",
    "graph_names",
    "hub_log",
    "link_models",
    "plan_failure",
    "read_container",
]

MAGIC = b"QHUBLNK\x00"
FORMAT_VERSION = 1
FORMAT_NAME = "aihubd-emulated-context-binary"
_PREFIX = struct.Struct("<8sII")


@dataclass(frozen=True)
class LinkInput:
    """One input model: its identity and its uploaded content (None if never uploaded)."""

    model_id: str
    name: str
    path: Path | None
    size: int
    sha256: str


@dataclass(frozen=True)
class LinkOutput:
    """What ``link_models`` wrote."""

    size: int
    sha256: str
    graphs: list[str]
    total_chunks: int
    unique_chunks: int
    stored_bytes: int = 0
    input_bytes: int = 0


def plan_failure(inputs: list[LinkInput]) -> str | None:
    """The failure reason for these inputs, or None when they can be linked."""
    if not inputs:
        return "A link job needs at least one input model."
    seen_ids: set[str] = set()
    for item in inputs:
        if item.model_id in seen_ids:
            return f"Model {item.model_id} is listed more than once; all input models to a link job must be distinct."
        seen_ids.add(item.model_id)
    for item in inputs:
        if item.path is None:
            return f"Input model '{item.name}' ({item.model_id}) has no uploaded file."
        if item.size == 0:
            return f"Input model '{item.name}' ({item.model_id}) is empty (0 bytes)."
    by_digest: dict[str, LinkInput] = {}
    for item in inputs:
        first = by_digest.get(item.sha256)
        if first is not None:
            return (
                f"Input models '{first.name}' ({first.model_id}) and '{item.name}' "
                f"({item.model_id}) have identical content; "
                "all input models to a link job must be distinct."
            )
        by_digest[item.sha256] = item
    return None


def graph_names(inputs: list[LinkInput]) -> list[str]:
    """Graph names: each model name's stem, made unique with ``_2``, ``_3``... suffixes."""
    names: list[str] = []
    for item in inputs:
        stem = Path(item.name).stem or item.model_id
        candidate, n = stem, 2
        while candidate in names:
            candidate, n = f"{stem}_{n}", n + 1
        names.append(candidate)
    return names


def link_models(inputs: list[LinkInput], out_path: Path, device: str, options: str, chunk_size: int) -> LinkOutput:
    """Write the container for ``inputs`` to ``out_path`` (atomically) and describe it."""
    if plan_failure(inputs) is not None:
        raise ValueError("these inputs cannot be linked")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    names = graph_names(inputs)
    chunk_index: dict[bytes, int] = {}
    chunks: list[dict[str, object]] = []
    graphs: list[dict[str, object]] = []
    total = 0
    offset = 0
    with tempfile.TemporaryFile(dir=out_path.parent) as payload:
        for name, item in zip(names, inputs, strict=True):
            assert item.path is not None
            refs: list[int] = []
            with open(item.path, "rb") as source:
                while block := source.read(chunk_size):
                    total += 1
                    digest = hashlib.sha256(block).digest()
                    index = chunk_index.get(digest)
                    if index is None:
                        index = len(chunks)
                        chunk_index[digest] = index
                        chunks.append({"offset": offset, "size": len(block), "sha256": digest.hex()})
                        payload.write(block)
                        offset += len(block)
                    refs.append(index)
            graphs.append({"name": name, "size": item.size, "sha256": item.sha256, "chunks": refs})
        header = {
            "chunk_size": chunk_size,
            "chunks": chunks,
            "device": device,
            "format": FORMAT_NAME,
            "graphs": graphs,
            "options": options,
        }
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        sha = hashlib.sha256()
        tmp = out_path.with_name(out_path.name + ".tmp")
        with open(tmp, "wb") as out:
            for piece in (_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes)), header_bytes):
                out.write(piece)
                sha.update(piece)
            payload.seek(0)
            while piece := payload.read(1 << 20):
                out.write(piece)
                sha.update(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, out_path)
    return LinkOutput(
        size=out_path.stat().st_size,
        sha256=sha.hexdigest(),
        graphs=names,
        total_chunks=total,
        unique_chunks=len(chunks),
        stored_bytes=offset,
        input_bytes=sum(item.size for item in inputs),
    )


def read_container(data: bytes) -> tuple[dict[str, object], bytes]:
    """Split a container into its header (parsed) and its payload."""
    if len(data) < _PREFIX.size:
        raise ValueError("not an emulated context binary: too short")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError("not an emulated context binary")
    start = _PREFIX.size
    header = json.loads(data[start : start + header_len].decode("utf-8"))
    return header, data[start + header_len :]


def extract_graph(data: bytes, index: int) -> bytes:
    """The original bytes of input ``index`` of a container."""
    header, payload = read_container(data)
    chunks = header["chunks"]
    graph = header["graphs"][index]  # type: ignore[index]
    parts = []
    for ref in graph["chunks"]:
        chunk = chunks[ref]  # type: ignore[index]
        parts.append(payload[chunk["offset"] : chunk["offset"] + chunk["size"]])
    return b"".join(parts)


def _input_lines(inputs: list[LinkInput], prefix: str) -> list[str]:
    return [
        f"{prefix} input {n}: '{item.name}' model={item.model_id} size={item.size} sha256={item.sha256 or '-'}"
        for n, item in enumerate(inputs, start=1)
    ]


def hub_log(
    job_id: str,
    device: str,
    options: str,
    inputs: list[LinkInput],
    output: LinkOutput | None,
    output_name: str,
    failure: str | None,
) -> str:
    """The deterministic HUB_LOG text of a link job."""
    lines = [
        f"[hub] link job {job_id}",
        f"[hub] device: {device}",
        f"[hub] options: {options or '(none)'}",
        *_input_lines(inputs, "[hub]"),
    ]
    if failure is not None or output is None:
        lines.append(f"[hub] link FAILED: {failure}")
    else:
        lines += [
            f"[hub] graphs: {', '.join(output.graphs)}",
            f"[hub] chunks: {output.unique_chunks} unique of {output.total_chunks}",
            f"[hub] bytes: {output.stored_bytes} stored of {output.input_bytes} input",
            f"[hub] output: {output_name} size={output.size} sha256={output.sha256}",
            "[hub] link SUCCEEDED",
        ]
    return "\n".join(lines) + "\n"


def device_log(
    job_id: str, device: str, inputs: list[LinkInput], output: LinkOutput | None, failure: str | None
) -> str:
    """The deterministic DEVICE_LOG text of a link job."""
    lines = [
        f"[device] {device}: qnn-context-binary-generator for job {job_id}",
        *_input_lines(inputs, "[device]"),
    ]
    if failure is not None or output is None:
        lines.append(f"[device] error: {failure}")
        lines.append("[device] exit code 1")
    else:
        lines.append(f"[device] wrote context binary with {len(output.graphs)} graph(s)")
        lines.append("[device] exit code 0")
    return "\n".join(lines) + "\n"
