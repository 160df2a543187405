"""TrainConfig from the command line: --set typed from the dataclass, --config files, precedence, and the settings an
existing run may change; every bad input is one DarkedgeError line."""

import json
from dataclasses import asdict, replace

import pytest

from darkedge import settings
from darkedge.config import (
    PRESETS,
    RUN_SETTINGS,
    TrainConfig,
    config_from_dict,
    read_config_file,
    resolve_config,
    run_changes,
)
from darkedge.errors import DarkedgeError
from darkedge.settings import parse_value, setting_of


def parse_settings(pairs):
    return settings.parse_settings(TrainConfig, pairs)


def merge_settings(flags, sets):
    return settings.merge_settings(TrainConfig, flags, sets)


def field_types():
    return settings.field_types(TrainConfig)


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def _as_text(value) -> str:
    """How a user would type `value` after --set key=."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_field_round_trips_through_set(preset):
    """Each field, new ones included, is reachable: its value written as text parses back to itself."""
    cfg = PRESETS[preset]
    pairs = [f"{name}={_as_text(setting_of(cfg, name))}" for name in field_types()]
    assert parse_settings(pairs) == settings.flatten(TrainConfig, asdict(cfg))
    assert settings.apply_settings(TrainConfig(), parse_settings(pairs)) == cfg


def test_a_group_of_settings_is_set_by_dotted_names_over_the_preset(tmp_path):
    """enhancer.* changes the preset's enhancer only where named; a file may nest them or dot them."""
    cfg = resolve_config({"preset": "paper", "enhancer.steps": 5})
    assert cfg.enhancer == replace(PRESETS["paper"].enhancer, steps=5)
    file = tmp_path / "e.json"
    file.write_text(json.dumps({"enhancer": {"crop": 20}, "enhancer.lr": 0.5}))
    cfg = resolve_config({"enhancer.steps": 5}, file)
    assert (cfg.enhancer.crop, cfg.enhancer.lr, cfg.enhancer.steps) == (20, 0.5, 5)
    assert cfg.enhancer.name == PRESETS["small"].enhancer.name
    with pytest.raises(DarkedgeError) as error:
        run_changes(PRESETS["small"], {"enhancer.steps": 5}, "runs/x")
    assert "--set enhancer.steps: runs/x keeps the settings" in _one_line(error)


def test_a_run_saved_with_flat_enhancer_settings_still_reads(tmp_path):
    """Before the enhancer's settings were a group, config.json held `enhancer` (its name) and `enhancer_*`."""
    saved = {k: v for k, v in asdict(PRESETS["paper"]).items() if k != "enhancer"}
    saved.update(enhancer="zero_dce", enhancer_scale=1.0, enhancer_steps=2000, enhancer_batch_size=8,
                 enhancer_crop=112, enhancer_clips=256, enhancer_frames=4, enhancer_lr=1e-4)  # fmt: skip
    assert config_from_dict(saved, "old/config.json") == PRESETS["paper"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"train": saved, "class_names": ["a"]}))
    assert resolve_config({}, path) == PRESETS["paper"]


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (bool, "off", False),
        (bool, "True", True),
        (int, " 12 ", 12),
        (float, "1e-3", 1e-3),
        (float, "3", 3.0),
        (str, "vit_small", "vit_small"),
        (str | None, "None", None),
        (str | None, "w.safetensors", "w.safetensors"),
        (int | None, "4", 4),
        (tuple[int, ...], "1,2,3", (1, 2, 3)),
        (tuple[int, float], "[1, 2.5]", (1, 2.5)),
        (list[float], "0.5, 0.25", [0.5, 0.25]),
    ],
)
def test_values_are_typed_from_the_field(kind, text, value):
    parsed = parse_value(kind, text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("pair", "needle"),
    [
        ("lrr=1e-3", "unknown setting 'lrr' (did you mean 'lr'?)"),
        ("lr=fast", "lr takes a number, not 'fast'"),
        ("epochs=2.5", "epochs takes an integer, not '2.5'"),
        ("amp=maybe", "amp takes true or false"),
        ("workers=many", "workers takes an integer or none"),
        ("epochs", "expected key=value"),
    ],
)
def test_bad_set_is_one_line(pair, needle):
    with pytest.raises(DarkedgeError) as error:
        parse_settings([pair])
    assert needle in _one_line(error) and pair in str(error.value)


def test_a_setting_given_twice_must_agree():
    assert parse_settings(["lr=1e-3", "lr=0.001"]) == {"lr": 1e-3}
    with pytest.raises(DarkedgeError, match="given twice"):
        parse_settings(["lr=1e-3", "lr=1e-4"])
    assert merge_settings({"epochs": 2, "seed": None}, {"epochs": 2, "lr": 1.0}) == {"epochs": 2, "lr": 1.0}
    with pytest.raises(DarkedgeError) as error:
        merge_settings({"epochs": 3}, {"epochs": 4})
    assert "--epochs 3 and --set epochs=4 disagree" in _one_line(error)


def test_values_out_of_range_are_refused():
    for bad in ({"epochs": 0}, {"workers": -1}, {"eval_crops": 2}, {"student_init": "nope"}, {"cache_gb": 0}):
        with pytest.raises(DarkedgeError):
            resolve_config(bad)


def test_precedence_preset_then_file_then_set(tmp_path):
    file = tmp_path / "my.json"
    file.write_text(json.dumps({"preset": "paper", "lr": 5e-4, "epochs": 3, "amp": False}))
    cfg = resolve_config({"epochs": 7}, file)
    assert cfg.preset == "paper" and cfg.encoder == PRESETS["paper"].encoder  # the file's preset is the base
    assert cfg.lr == 5e-4 and cfg.amp is False  # the file over the preset
    assert cfg.epochs == 7  # --set over the file
    flagged = resolve_config(
        {"preset": "test"}, file
    )  # --preset over the file's preset, the file still applies
    assert flagged.preset == "test" and flagged.encoder == PRESETS["test"].encoder and flagged.lr == 5e-4
    assert resolve_config({}) == PRESETS["small"]


def test_a_run_config_json_is_a_config_file(tmp_path):
    cfg = PRESETS["test"]
    run_config = tmp_path / "config.json"
    run_config.write_text(json.dumps({"train": asdict(cfg), "class_names": ["a"], "darkedge_version": "0"}))
    assert resolve_config({}, run_config) == cfg


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"lr": "fast"}', 'lr "fast" is not a number'),
        ('{"epochs": true}', "epochs true is not an integer"),
        ('{"epochs": 2.0}', "epochs 2.0 is not an integer"),
        ('{"learning_rate": 0.1}', "unknown setting 'learning_rate'"),
        ("[1, 2]", "a config file holds a JSON object"),
        ("{lr: 1}", "not a JSON config file"),
    ],
)
def test_bad_config_file_is_one_line_naming_it(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DarkedgeError) as error:
        read_config_file(path)
    assert needle in _one_line(error) and str(path) in str(error.value)
    with pytest.raises(DarkedgeError, match="no such config file"):
        read_config_file(tmp_path / "missing.json")


def test_an_existing_run_changes_only_how_it_runs():
    cfg = PRESETS["small"]
    assert run_changes(cfg, {"epochs": 20, "workers": 3, "lr": cfg.lr}, "runs/x") == {
        "epochs": 20,
        "workers": 3,
    }
    for name in ("lr", "encoder", "seed", "preset", "num_frames"):
        value = {"lr": 1.0, "encoder": "vit_tiny", "seed": 5, "preset": "paper", "num_frames": 4}[name]
        with pytest.raises(DarkedgeError) as error:
            run_changes(cfg, {name: value}, "runs/x")
        assert f"--set {name}: runs/x keeps the settings" in _one_line(error)
    assert set(RUN_SETTINGS) <= set(field_types())
