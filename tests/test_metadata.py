"""Exports describe themselves: the metadata an ONNX file, an OpenVINO IR and a TensorRT engine's JSON carry reads
back exactly, and a model copied alone into an empty folder still names its actions and is fed the way it was
trained (the INT8 exports `darkedge quantize` writes, and an FP32 `darkedge export`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import onnx
import pytest
import torch
from click.testing import CliRunner
from helpers_model import classifier_config
from helpers_run import CLASSES
from helpers_video import write_video

from darkedge.cli import main
from darkedge.config import make_config
from darkedge.errors import DarkedgeError
from darkedge.export.onnx import export_onnx
from darkedge.export.openvino import export_openvino
from darkedge.export.tensorrt import describe_engine, write_engine
from darkedge.models import build_model
from darkedge.names import FORMAT_SUFFIXES
from darkedge.run import Run
from darkedge.runtime import load_predictor
from darkedge.runtime.metadata import (
    encode_metadata,
    engine_metadata_path,
    export_metadata,
    read_metadata,
)

SHAPE = (1, 3, 2, 32, 32)
# names that a lossy encoding would change: a comma, quotes, a number, spaces, XML's specials, non-ASCII
AWKWARD = ["Pick, up", 'say "hi"', "12", "  two  words ", "<a&b>", "Gießen", "true"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-frame vit_nano classifier and a run (stride 3, data path "123") to describe it."""
    folder = tmp_path_factory.mktemp("meta")
    cfg = make_config("test", data="123", frame_step=3)
    run = Run(folder / "run", cfg, AWKWARD)
    config = classifier_config(encoder="vit_nano", num_classes=len(AWKWARD), num_frames=2, img_size=32)
    torch.manual_seed(0)
    return build_model("classifier", asdict(config)).eval(), run, folder


def test_metadata_round_trips_exactly_through_onnx_openvino_and_the_engine_json(tiny):
    model, run, folder = tiny
    written = {}
    for fmt, shape in (("onnx", (None, *SHAPE[1:])), ("openvino", SHAPE), ("tensorrt", (None, *SHAPE[1:]))):
        metadata = export_metadata(
            run, "student", "fp32", fmt, shape, run.path / "student.pt", max_batch=8, note="12", empty=""
        )  # extra fields round-trip too, a string that looks like a number included
        path = folder / f"student_fp32{FORMAT_SUFFIXES[fmt]}"
        if fmt == "onnx":
            export_onnx(model, SHAPE, path, "fp32", metadata)
        elif fmt == "openvino":
            export_openvino(model, SHAPE, path, "fp32", metadata)
        else:
            write_engine(b"a serialized engine", path, metadata)  # TensorRT itself is not needed for its JSON
        written[path] = metadata
    for path, metadata in written.items():
        assert read_metadata(path) == metadata, path.name
        assert read_metadata(path)["class_names"] == AWKWARD and read_metadata(path)["data"] == "123"
    onnx_meta, ov_meta = (
        read_metadata(folder / "student_fp32.onnx"),
        read_metadata(folder / "student_fp32.xml"),
    )
    assert onnx_meta["input_shape"] == [None, 3, 2, 32, 32] and onnx_meta["dynamic_batch"] is True
    assert ov_meta["input_shape"] == [1, 3, 2, 32, 32] and ov_meta["dynamic_batch"] is False
    assert (onnx_meta["frames"], onnx_meta["frame_step"], onnx_meta["crop"]) == (2, 3, 32)
    assert onnx_meta["resize"] == run.config.resize and onnx_meta["normalisation_inside"] is True
    assert (onnx_meta["channels"], onnx_meta["value_range"]) == ("RGB", [0.0, 1.0])
    assert onnx_meta["run"] == str(run.path.resolve()) and onnx_meta["checkpoint"] == "student.pt"
    # stored as the formats' own string key / value pairs, readable by any tool
    props = {p.key: p.value for p in onnx.load(str(folder / "student_fp32.onnx")).metadata_props}
    assert props == encode_metadata(written[folder / "student_fp32.onnx"])
    assert props["model"] == "student" and json.loads(props["class_names"]) == AWKWARD
    assert "<darkedge>" in (folder / "student_fp32.xml").read_text().split("<rt_info>")[1]
    engine = folder / "student_fp32.engine"
    assert engine.read_bytes() == b"a serialized engine"
    assert engine_metadata_path(engine).name == "student_fp32.engine.json"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("student_fp32.engine")) == [
        "student_fp32.engine",
        "student_fp32.engine.json",
    ]  # no temporary folder left


def test_an_engine_and_its_json_appear_together_or_not_at_all(tmp_path):
    with pytest.raises(TypeError):  # the engine's bytes fail to write after its JSON was written
        write_engine(None, tmp_path / "m.engine", {"metadata_version": 1})
    assert list(tmp_path.iterdir()) == []


def test_an_engine_built_by_hand_gets_the_metadata_of_its_onnx(tiny, tmp_path):
    """deploy/build_engine.sh runs trtexec, then describe_engine writes <engine>.json from the ONNX's metadata."""
    model, run, _ = tiny
    onnx_path = tmp_path / "student_int8.onnx"
    metadata = export_metadata(run, "student", "fp32", "onnx", (None, *SHAPE[1:]), run.path / "student.pt")
    export_onnx(model, SHAPE, onnx_path, "fp32", metadata)
    engine = tmp_path / "student_fp16.engine"
    engine.write_bytes(b"built by trtexec")
    describe_engine(onnx_path, engine, "fp16")
    described = read_metadata(engine)
    assert described == {**metadata, "format": "tensorrt", "precision": "fp16", "built_from": onnx_path.name}
    bare = tmp_path / "bare.onnx"
    export_onnx(model, SHAPE, bare, "fp32")
    with pytest.raises(DarkedgeError, match="bare.onnx: carries no darkedge metadata"):
        describe_engine(bare, engine)


def test_damaged_metadata_is_a_one_line_error_naming_the_file(tiny, tmp_path):
    model, run, _ = tiny
    metadata = export_metadata(run, "student", "fp32", "onnx", (None, *SHAPE[1:]), run.path / "student.pt")
    for field, value, message in (
        ("frames", "four", "'frames' is not valid JSON"),
        ("frame_step", "0", "'frame_step' should be a positive integer"),
        ("class_names", '"Drink"', "'class_names' should be a list of strings"),
        ("input_shape", "[1, 3, 2]", "'input_shape' should be"),
    ):
        path = tmp_path / f"bad_{field}.onnx"
        export_onnx(model, SHAPE, path, "fp32", metadata)
        graph = onnx.load(str(path))
        next(p for p in graph.metadata_props if p.key == field).value = value
        onnx.save(graph, str(path))
        for read in (read_metadata, load_predictor):
            with pytest.raises(DarkedgeError, match=message) as error:
                read(path)
            assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
    foreign = tmp_path / "foreign.onnx"  # another tool's properties are not darkedge's metadata, nor an error
    export_onnx(model, SHAPE, foreign, "fp32", {"author": "someone", "frames": "four"})
    assert read_metadata(foreign) == {} and load_predictor(foreign).class_names is None
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    engine_metadata_path(engine).write_text("{not json")
    with pytest.raises(DarkedgeError, match="m.engine.json: unreadable engine metadata"):
        read_metadata(engine)


@pytest.fixture(scope="module")
def exported(qrun, tmp_path_factory):
    """The tiny quantized run (test preset: 4 frames, stride 2, resize 40, crop 32) with an FP32 ONNX export too."""
    run = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(qrun, run)
    result = CliRunner().invoke(main, ["export", "--run", str(run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize(
    ("files", "precision"),
    [
        (("student_int8.onnx",), "int8"),
        (("student_int8.xml", "student_int8.bin"), "int8"),
        (("student_fp32.onnx",), "fp32"),
    ],
)
def test_a_model_copied_alone_names_its_actions_and_is_fed_as_trained(exported, tmp_path, files, precision):
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in files:
        shutil.copy(exported / "export" / name, alone / name)
    model = alone / files[0]
    metadata = read_metadata(model)
    assert metadata == read_metadata(exported / "export" / files[0])  # the file holds it all
    assert (metadata["model"], metadata["precision"], metadata["class_names"]) == (
        "student",
        precision,
        CLASSES,
    )
    assert (metadata["frames"], metadata["frame_step"], metadata["resize"], metadata["crop"]) == (
        4,
        2,
        40,
        32,
    )
    assert metadata["checkpoint"] == ("student_int8.pt" if precision == "int8" else "student.pt")
    assert load_predictor(model).metadata == metadata

    video = write_video(tmp_path / "night.avi", 12)
    result = CliRunner().invoke(main, ["infer", str(video), "--model", str(model)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # 4 frames 2 apart span 7 frames (defaults would span 4); windows start every 4 frames (about half the span,
    # in whole frame steps)
    assert [e["frames"] for e in events] == [[0, 6], [4, 10]]
    assert {e["action"] for e in events} <= set(CLASSES)
    assert "windows of 4 frames 2 apart, resized to 40 px and cropped to 32" in result.stderr
    assert "3 classes: Drink, Jump, Wave; from the model file's metadata" in result.stderr
