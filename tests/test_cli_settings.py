"""Every command's defaults live in its settings dataclass: the command line's options default to None, and
--set / --config reach every field of every command's dataclass the same way."""

import dataclasses
import json

import click
import pytest
from click.testing import CliRunner

from darkedge.cli import SettingsCommand, main
from darkedge.settings import field_types, load_class


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


COMMANDS = dict(_commands(main))
SETTINGS = {name: c for name, c in COMMANDS.items() if isinstance(c, SettingsCommand)}


def test_the_commands_with_settings_are_the_ones_that_have_them():
    assert {"train", "quantize", "infer", "bench", "enhance train", "data synth", "calib build"} <= set(
        SETTINGS
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_option_repeats_a_default_its_dataclass_defines(name):
    command = COMMANDS[name]
    fields = set()
    if isinstance(command, SettingsCommand):
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


@pytest.mark.parametrize("name", ["quantize", "infer", "bench", "enhance train", "calib build"])
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
