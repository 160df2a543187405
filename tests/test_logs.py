"""Messages: darkedge's modules log, `setup_logging` prints them on stderr, `darkedge -v / -q` choose how many."""

import logging

import pytest
from click.testing import CliRunner

from darkedge.cli import main
from darkedge.logs import setup_logging


@pytest.fixture
def darkedge_logger():
    """The "darkedge" logger, put back as it was after the test."""
    logger = logging.getLogger("darkedge")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:], logger.level = handlers, level


@pytest.mark.parametrize(
    ("flags", "printed"),
    [
        ({}, ["resuming after epoch 1", "warning: clip 3 unreadable"]),
        ({"verbose": True}, ["5 batches", "resuming after epoch 1", "warning: clip 3 unreadable"]),
        ({"quiet": True}, ["warning: clip 3 unreadable"]),
    ],
)
def test_messages_print_on_stderr_at_the_chosen_level(flags, printed, capsys, darkedge_logger):
    setup_logging(**flags)
    setup_logging(**flags)  # again: still one handler, so every message once
    log = logging.getLogger("darkedge.train.engine")
    log.debug("%d batches", 5)
    log.info("resuming after epoch %d", 1)
    log.warning("clip %d unreadable", 3)
    captured = capsys.readouterr()
    assert captured.err.splitlines() == printed and captured.out == ""


def test_quiet_and_verbose_on_the_command_group(tmp_path, darkedge_logger):
    missing = str(tmp_path / "missing")
    result = CliRunner().invoke(main, ["--quiet", "export", "--run", missing, "--check"])
    assert result.exit_code == 1 and darkedge_logger.level == logging.WARNING
    result = CliRunner().invoke(main, ["-v", "export", "--run", missing, "--check"])
    assert result.exit_code == 1 and darkedge_logger.level == logging.DEBUG
    result = CliRunner().invoke(main, ["-v", "-q", "export", "--run", missing, "--check"])
    assert result.exit_code == 2 and "--verbose and --quiet exclude each other" in result.output


def test_a_log_file_gets_lines_not_carriage_return_bars(tmp_path):
    """`darkedge train > train.log 2>&1` (or under systemd): one line per epoch or stage, no progress bars."""
    import subprocess
    import sys

    from helpers_run import make_tiny_data

    data = make_tiny_data(tmp_path / "data")
    options = ["--preset", "test", "--epochs", "1", "--workers", "0", "--calib="]
    command = [
        sys.executable,
        "-m",
        "darkedge",
        "train",
        *options,
        "--data",
        str(data),
        "--out",
        str(tmp_path / "runs"),
    ]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert result.returncode == 0, result.stdout.decode()[-2000:]
    log = result.stdout.decode()
    assert "\r" not in log
    assert "enhancer: 3/3 step in" in log  # a long loop's one line at its end
    assert "teacher epoch 1/1: loss" in log and "teacher 1/1:" not in log  # the epoch's line, not its bar


def test_progress_lines_come_at_most_every_interval_and_at_the_end(caplog):
    import darkedge.logs as logs

    now = [0.0]
    with caplog.at_level("INFO", logger="darkedge"):
        bar = logs.Lines(range(10), desc="decoding", total=None, unit="clip")
        bar._time = lambda: now[0]
        bar.started = bar.shown = 0.0
        for _ in bar:
            now[0] += 10.0  # 10 s a clip: a line every third clip, and one at the end
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "decoding: 3/10 clip in 30 s, 0.1 clip/s",
        "decoding: 6/10 clip in 60 s, 0.1 clip/s",
        "decoding: 9/10 clip in 90 s, 0.1 clip/s",
        "decoding: 10/10 clip in 100 s, 0.1 clip/s",
    ]
