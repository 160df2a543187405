"""Every command's defaults live in its settings dataclass: the command line's options default to None, and
--set / --config reach every field of every command's dataclass the same way."""

import dataclasses
import json

import click
import pytest
from click.testing import CliRunner

from darkedge.cli import SettingsCommand, SettingsGroup, main
from darkedge.settings import field_types, load_class


def _commands(group: click.Group, prefix: str = ""):
    """Every command, and every group that is a command too (`bench`, with `bench cameras` under it)."""
    for name, command in group.commands.items():
        if not isinstance(command, click.Group) or isinstance(command, SettingsGroup):
            yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


COMMANDS = dict(_commands(main))
SETTINGS = {name: c for name, c in COMMANDS.items() if isinstance(c, SettingsCommand | SettingsGroup)}


def test_the_commands_with_settings_are_the_ones_that_have_them():
    assert {"train", "quantize", "infer", "bench", "bench cameras", "enhance train", "data synth",
            "calib build"} <= set(SETTINGS)  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_option_repeats_a_default_its_dataclass_defines(name):
    command = COMMANDS[name]
    fields = set()
    if isinstance(command, SettingsCommand | SettingsGroup):
        fields = {f.name for f in dataclasses.fields(load_class(command.settings))}
    for option in command.params:
        if isinstance(option, click.Option) and option.name in fields:
            default = option.default
            assert default is None or default == (), (
                f"{name} {option.opts[0]}: default {default!r} is the dataclass's"
            )


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_help_lists_every_setting_and_its_default(name):
    result = CliRunner().invoke(main, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    cls = load_class(SETTINGS[name].settings)
    assert f"Settings ({cls.__name__};" in result.output
    for setting in field_types(cls):  # a group's fields by dotted name
        assert f"  {setting} " in result.output


@pytest.mark.parametrize(
    "name", ["quantize", "infer", "bench", "bench cameras", "enhance train", "calib build"]
)
def test_set_and_config_reach_the_dataclass_and_bad_ones_are_one_line(name, tmp_path):
    """An unknown key is refused naming it, before any work; a config file of the wrong shape names the file."""
    runner = CliRunner()
    result = runner.invoke(main, [*name.split(), "--set", "no_such_field=1"])
    assert result.exit_code == 1 and "unknown setting 'no_such_field'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_field": 1}))
    result = runner.invoke(main, [*name.split(), "--config", str(bad)])
    assert result.exit_code == 1 and f"{bad}: unknown setting 'no_such_field'" in result.output


def test_a_flag_and_a_set_of_the_same_field_must_agree():
    result = CliRunner().invoke(main, ["quantize", "--lr", "1e-3", "--set", "lr=1e-4"])
    assert result.exit_code == 1 and "--lr 0.001 and --set lr=0.0001 disagree" in result.output


def test_a_config_file_and_set_build_the_quantize_settings(tmp_path):
    from darkedge.cli import _settings

    path = tmp_path / "q.json"
    path.write_text(json.dumps({"settings": {"lr": 0.5, "epochs": 3}}))  # a quant/report.json's shape
    cfg = _settings(
        "darkedge.quant.qat:QatConfig",
        {"epochs": None, "gamma": 0.0},
        ("batch_size=2",),
        str(path),
        "settings",
    )
    assert (cfg.lr, cfg.epochs, cfg.batch_size, cfg.gamma, cfg.calib_clips) == (0.5, 3, 2, 0.0, 64)


def test_the_model_and_the_enhancer_take_their_defaults_from_one_place():
    """ClassifierConfig has no default for a setting TrainConfig decides (a run's model comes from its TrainConfig,
    a checkpoint's from what it saved); the enhancer's recipe is one class that `darkedge train` and `darkedge enhance
    train` both nest; the enhancer architecture names no default enhancer."""
    from darkedge.config import EnhancerTrainConfig, TrainConfig
    from darkedge.enhance import EnhancerConfig
    from darkedge.enhance.train import EnhancerJob
    from darkedge.models import ClassifierConfig

    train = {f.name for f in dataclasses.fields(TrainConfig)}
    for f in dataclasses.fields(ClassifierConfig):
        if f.name in train:
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name
    for cls in (TrainConfig, EnhancerJob):
        assert field_types(cls)["enhancer.steps"] is int
        assert not [f.name for f in dataclasses.fields(cls) if f.name.startswith("enhancer_")]
        assert {f.name: f.type for f in dataclasses.fields(cls)}["enhancer"] in ("EnhancerTrainConfig",
                                                                                  EnhancerTrainConfig)  # fmt: skip
    name = next(f for f in dataclasses.fields(EnhancerConfig) if f.name == "name")
    assert name.default is dataclasses.MISSING


@pytest.mark.parametrize(
    ("name", "setting", "message"),
    [
        ("train", "epochs=0", "epochs 0: must be at least 1"),
        ("quantize", "batch_size=0", "batch_size 0: must be at least 1"),
        ("bench", "compare=nothing", "--compare nothing: choose from"),
        ("bench cameras", "protocol=udp", "protocol 'udp': expected one of rtsp, mjpeg"),
        ("infer", "max_batch=0", "max_batch"),
        ("enhance train", "split=val", "split 'val': expected one of train, test, all"),
        ("data synth", "width=8", "synth: size 8x96 is too small"),
        ("calib build", "clips=0", "clips 0: must be at least 1"),
    ],
)
def test_every_command_checks_its_settings_before_any_work(name, setting, message, tmp_path, monkeypatch):
    """Each settings dataclass checks itself when built: a bad value is the same one line, exit 1, whatever the
    command, and nothing is written."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*name.split(), "--set", setting])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
