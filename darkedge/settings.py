"""Settings from the command line, typed from a dataclass: `--set key=value`, `--config FILE` and the flags that
name a field, for every command's config (TrainConfig, QatConfig, InferConfig, BenchOptions, ...).

Each command's defaults live in its dataclass alone. The command line passes None for every option not given,
and `build` makes the config: the dataclass's defaults, changed by the --config file, changed
by --set and the flags. Values are checked against the fields' types; a bad key, value or file is a one-line error
that names it, with the nearest field name for a typo.

A field whose type is itself a dataclass (TrainConfig's `enhancer`) is a group of settings: its fields are named
with a dot (`--set enhancer.steps=800`), a JSON file holds them nested ({"enhancer": {"steps": 800}}) or dotted,
and settings are passed around as one flat mapping of dotted names to values that `apply_settings` lays over a base.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from darkedge.errors import DarkedgeError

BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}

TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    type(None): "none",
}


def field_types(cls: type) -> dict[str, Any]:
    """A dataclass's settings and their types (resolved from the annotations), a group's fields by dotted name
    (`enhancer.steps`) in place of the group."""
    hints = typing.get_type_hints(cls)
    kinds = {}
    for f in dataclasses.fields(cls):
        if is_group(hints[f.name]):
            kinds.update({f"{f.name}.{name}": kind for name, kind in field_types(hints[f.name]).items()})
        else:
            kinds[f.name] = hints[f.name]
    return kinds


def is_group(kind: Any) -> bool:
    """A field whose type is a dataclass: a group of settings."""
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def groups(cls: type) -> set[str]:
    """The names of `cls`'s fields that are groups of settings."""
    hints = typing.get_type_hints(cls)
    return {f.name for f in dataclasses.fields(cls) if is_group(hints[f.name])}


def check_name(cls: type, name: str, source: str) -> None:
    """One-line error, with the nearest known name, when `name` is not a setting of `cls`."""
    names = list(field_types(cls))
    if name in groups(cls):
        raise DarkedgeError(
            f"{source}: '{name}' is a group of settings; set one of them, e.g. {name}.{names_in(cls, name)[0]}"
        )
    if name not in names:
        near = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(names)})"
        raise DarkedgeError(f"{source}: unknown setting '{name}'{hint}")


def names_in(cls: type, group: str) -> list[str]:
    """The fields of the group `group` of `cls`, without the group's prefix."""
    return [n.partition(".")[2] for n in field_types(cls) if n.startswith(f"{group}.")]


def flatten(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with each group given as a JSON object ({"enhancer": {"steps": 8}}) as dotted names instead."""
    flat = {}
    for name, value in settings.items():
        if name in groups(cls) and isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    return flat


def apply_settings(base: Any, settings: dict[str, Any]) -> Any:
    """The dataclass instance `base` with the (dotted, typed) `settings` laid over it; a group keeps what the
    settings do not name. Each dataclass built checks itself (`__post_init__`)."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        head, dot, rest = name.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            top[name] = value
    for head, inner in nested.items():
        top[head] = apply_settings(getattr(base, head), inner)
    return dataclasses.replace(base, **top) if top else base


def setting_of(config: Any, name: str) -> Any:
    """The value of the (dotted) setting `name` in the dataclass instance `config`."""
    for part in name.split("."):
        config = getattr(config, part)
    return config


def at_least(config: Any, minimum: float, names: tuple[str, ...] | list[str], prefix: str = "") -> None:
    """One-line error for the first of `names` (fields of `config`; None is left alone) below `minimum`."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise DarkedgeError(f"{prefix}{name} {value}: must be at least {minimum:g}")


def parse_value(kind: Any, text: str) -> Any:
    """`text` as a value of the type `kind`: bool, int, float, str, `X | None`, tuple[...] or list[...].

    Raises ValueError (the caller names the setting). "none" / "null" is None where the type allows it; a
    sequence is comma-separated or a JSON list.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        return _first_fit([a for a in args if a is not type(None)], lambda option: parse_value(option, text))
    if origin in (tuple, list):
        if text.strip().startswith("["):
            return check_value(kind, json.loads(text))
        items = [t.strip() for t in text.split(",") if t.strip()]
        parsed = [
            parse_value(t, item) for t, item in zip(_element_types(kind, len(items)), items, strict=True)
        ]
        return tuple(parsed) if origin is tuple else parsed
    if kind is bool:
        word = text.strip().lower()
        if word not in BOOL_WORDS:
            raise ValueError(text)
        return BOOL_WORDS[word]
    if kind in (int, float):
        return kind(text.strip())
    if kind is str:
        return text
    raise ValueError(f"settings of type {kind} cannot be given on the command line")


def check_value(kind: Any, value: Any) -> Any:
    """`value` (from JSON or Python) checked against the type `kind`; a sequence becomes the field's tuple or
    list. Raises ValueError when it does not fit (an int is a float, a bool is not an int)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _first_fit([a for a in args if a is not type(None)], lambda option: check_value(option, value))
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ValueError(value)
        items = [check_value(t, v) for t, v in zip(_element_types(kind, len(value)), value, strict=True)]
        return tuple(items) if origin is tuple else items
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise ValueError(value)


def _first_fit(options: list[Any], convert: Any) -> Any:
    """`convert(option)` for the first option that does not raise ValueError."""
    for option in options:
        try:
            return convert(option)
        except ValueError:
            continue
    raise ValueError(options)


def _element_types(kind: Any, count: int) -> list[Any]:
    """The type of each of `count` items of a tuple[...] or list[...] type; ValueError for a wrong count."""
    args = typing.get_args(kind)
    if not args:
        raise ValueError(kind)
    if typing.get_origin(kind) is list or args[-1] is Ellipsis:
        return [args[0]] * count
    if len(args) != count:
        raise ValueError(count)
    return list(args)


def type_name(kind: Any) -> str:
    """How a field's type reads in an error message: 'an integer', 'a string or none', 'a list of numbers'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (tuple, list):
        plural = type_name(args[0]).split(" ", 1)[-1] + "s" if args else "values"
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) in COUNTS:
            return f"{COUNTS[len(args)]} {plural} (a,b or [a, b])"
        return f"a list of {plural} (a,b or [a, b])"
    return TYPE_NAMES.get(kind, str(kind))


COUNTS = {2: "two", 3: "three", 4: "four"}


def typed_settings(cls: type, settings: dict[str, Any], source: str) -> dict[str, Any]:
    """Python or JSON values checked against `cls`'s field types; one-line error naming `source` otherwise."""
    kinds = field_types(cls)
    typed = {}
    for name, value in flatten(cls, settings).items():
        check_name(cls, name, source)
        try:
            typed[name] = check_value(kinds[name], value)
        except ValueError:
            raise DarkedgeError(
                f"{source}: {name} {json.dumps(value)} is not {type_name(kinds[name])}"
            ) from None
    return typed


def parse_settings(cls: type, pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` items as typed values of `cls`'s fields; one-line error for a bad item, key or value."""
    kinds = field_types(cls)
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise DarkedgeError(f"--set {pair}: expected key=value, e.g. --set lr=1e-3")
        check_name(cls, name, f"--set {pair}")
        try:
            value = parse_value(kinds[name], text)
        except (ValueError, json.JSONDecodeError):
            raise DarkedgeError(
                f"--set {pair}: {name} takes {type_name(kinds[name])}, not {text!r}"
            ) from None
        if name in settings and settings[name] != value:
            raise DarkedgeError(f"--set {name}: given twice ({settings[name]!r} and {value!r})")
        settings[name] = value
    return settings


def option_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def merge_settings(cls: type, flags: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """Explicit flags (None: not given) and --set values together; one-line error where the two disagree.

    A flag given as text for a field of another type (`--reconnect 0.5,8` for a pair of numbers) is parsed
    as --set would parse it."""
    kinds = field_types(cls)
    merged = dict(sets)
    for name, value in flags.items():
        if value is None:
            continue
        check_name(cls, name, option_name(name))
        if isinstance(value, str) and kinds[name] is not str:
            try:
                value = parse_value(kinds[name], value)
            except (ValueError, json.JSONDecodeError):
                raise DarkedgeError(f"{option_name(name)} {value}: takes {type_name(kinds[name])}") from None
        if name in sets and sets[name] != value:
            raise DarkedgeError(
                f"{option_name(name)} {value} and --set {name}={sets[name]} disagree; give one of them"
            )
        merged[name] = value
    return merged


def read_settings_file(
    cls: type, path: str | Path, section: str | None = None, upgrade: Callable[[dict], dict] | None = None
) -> dict[str, Any]:
    """The settings in a JSON file: a mapping of `cls`'s fields (any subset), or a file darkedge saved with them
    under `section` (a run's config.json holds TrainConfig under "train"); `upgrade` turns settings saved by an
    older darkedge into today's names. Values are checked against the fields' types; one-line error naming the file otherwise."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise DarkedgeError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DarkedgeError(f"{path}: not a JSON config file ({str(e).splitlines()[0]})") from None
    if section and isinstance(content, dict) and isinstance(content.get(section), dict):
        content = content[section]
    if not isinstance(content, dict):
        raise DarkedgeError(f'{path}: a config file holds a JSON object of settings, e.g. {{"lr": 0.001}}')
    content = upgrade(content) if upgrade else content
    return typed_settings(cls, content, str(path))


def command_settings(
    cls: type,
    flags: dict[str, Any],
    sets: list[str] | tuple[str, ...] = (),
    config_file: str | Path | None = None,
    section: str | None = None,
) -> dict[str, Any]:
    """What a command line says of `cls`'s fields: the --config file's settings, then --set and the flags."""
    from_file = read_settings_file(cls, config_file, section) if config_file else {}
    return {**from_file, **merge_settings(cls, flags, parse_settings(cls, sets))}


def load_class(path: str) -> type:
    """The class a "module:Name" path names (darkedge's own settings dataclasses, imported when needed so that
    the command line starts without torch)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def build(cls: type, flags: dict[str, Any], sets=(), config_file=None, section: str | None = None):
    """`cls`'s defaults changed by a command line: see `command_settings`."""
    return apply_settings(cls(), command_settings(cls, flags, sets, config_file, section))
