"""The emulated link: determinism, chunk dedup, losslessness, failure rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aihubd.emulator.linker import (
    LinkInput,
    device_log,
    extract_graph,
    graph_names,
    hub_log,
    link_models,
    plan_failure,
    read_container,
)

CHUNK = 64


def _input(tmp: Path, model_id: str, name: str, data: bytes) -> LinkInput:
    path = tmp / f"{model_id}.blob"
    path.write_bytes(data)
    return LinkInput(model_id, name, path, len(data), hashlib.sha256(data).hexdigest())


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    data_a, data_b = b"A" * 200 + b"x", b"B" * 130
    first = [_input(tmp_path, "m1", "a.dlc", data_a), _input(tmp_path, "m2", "b.dlc", data_b)]
    # Different model ids, same names and contents.
    second = [_input(tmp_path, "m3", "a.dlc", data_a), _input(tmp_path, "m4", "b.dlc", data_b)]
    out1 = link_models(first, tmp_path / "one.bin", "Dev", "--x", CHUNK)
    out2 = link_models(second, tmp_path / "two.bin", "Dev", "--x", CHUNK)
    assert (tmp_path / "one.bin").read_bytes() == (tmp_path / "two.bin").read_bytes()
    assert out1 == out2
    assert out1.sha256 == hashlib.sha256((tmp_path / "one.bin").read_bytes()).hexdigest()


def test_device_and_options_are_part_of_the_output(tmp_path: Path) -> None:
    inputs = [_input(tmp_path, "m1", "a.dlc", b"abc" * 50)]
    base = link_models(inputs, tmp_path / "a.bin", "Dev", "", CHUNK).sha256
    assert link_models(inputs, tmp_path / "b.bin", "Other", "", CHUNK).sha256 != base
    assert link_models(inputs, tmp_path / "c.bin", "Dev", "--o", CHUNK).sha256 != base


def test_shared_chunks_are_stored_once(tmp_path: Path) -> None:
    shared = bytes(range(CHUNK)) * 3  # three aligned chunks
    data_a = shared + b"tail-a"
    data_b = shared + b"tail-b-longer"
    inputs = [_input(tmp_path, "m1", "a.dlc", data_a), _input(tmp_path, "m2", "b.dlc", data_b)]
    out = link_models(inputs, tmp_path / "out.bin", "Dev", "", CHUNK)
    # bytes(range(64)) * 3 is three identical chunks: stored once in total.
    assert out.total_chunks == 8
    assert out.unique_chunks == 3
    assert out.stored_bytes == CHUNK + len(b"tail-a") + len(b"tail-b-longer")
    data = (tmp_path / "out.bin").read_bytes()
    header, payload = read_container(data)
    assert len(payload) == out.stored_bytes
    assert header["graphs"][0]["chunks"] == [0, 0, 0, 1]
    assert header["graphs"][1]["chunks"] == [0, 0, 0, 2]
    assert extract_graph(data, 0) == data_a
    assert extract_graph(data, 1) == data_b


def test_container_header(tmp_path: Path) -> None:
    inputs = [_input(tmp_path, "m1", "dir/model.v1.dlc", b"q" * 10)]
    data_path = tmp_path / "o.bin"
    link_models(inputs, data_path, "Dev", "--opt", CHUNK)
    header, _ = read_container(data_path.read_bytes())
    assert header["format"] == "aihubd-emulated-context-binary"
    assert header["device"] == "Dev" and header["options"] == "--opt"
    assert header["chunk_size"] == CHUNK
    assert header["graphs"][0]["name"] == "model.v1"
    assert header["graphs"][0]["sha256"] == hashlib.sha256(b"q" * 10).hexdigest()
    with pytest.raises(ValueError):
        read_container(b"not a container at all")


def test_graph_names_are_unique(tmp_path: Path) -> None:
    inputs = [_input(tmp_path, f"m{i}", "x.dlc", bytes([i]) * 5) for i in range(3)]
    assert graph_names(inputs) == ["x", "x_2", "x_3"]


def test_failure_rules(tmp_path: Path) -> None:
    a = _input(tmp_path, "m1", "a.dlc", b"aaa")
    b = _input(tmp_path, "m2", "b.dlc", b"bbb")
    same_as_a = _input(tmp_path, "m3", "c.dlc", b"aaa")
    empty = _input(tmp_path, "m4", "e.dlc", b"")
    missing = LinkInput("m5", "never.dlc", None, 0, "")
    assert plan_failure([a, b]) is None
    assert "at least one" in (plan_failure([]) or "")
    assert "listed more than once" in (plan_failure([a, a]) or "")
    assert "identical content" in (plan_failure([a, same_as_a]) or "")
    assert "empty" in (plan_failure([a, empty]) or "")
    assert "no uploaded file" in (plan_failure([missing, a]) or "")
    with pytest.raises(ValueError):
        link_models([a, a], tmp_path / "x.bin", "Dev", "", CHUNK)


def test_logs_are_deterministic(tmp_path: Path) -> None:
    inputs = [_input(tmp_path, "m1", "a.dlc", b"a" * 99)]
    out = link_models(inputs, tmp_path / "o.bin", "Dev", "", CHUNK)
    text = hub_log("j1", "Dev", "", inputs, out, "job_j1_optimized_bin.bin", None)
    assert text == hub_log("j1", "Dev", "", inputs, out, "job_j1_optimized_bin.bin", None)
    assert "link SUCCEEDED" in text and out.sha256 in text
    failed = hub_log("j1", "Dev", "", inputs, None, "x", "boom")
    assert "link FAILED: boom" in failed
    assert "exit code 1" in device_log("j1", "Dev", inputs, None, "boom")
    assert "exit code 0" in device_log("j1", "Dev", inputs, out, None)
