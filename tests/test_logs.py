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
