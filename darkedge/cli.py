"""The `darkedge` command line: parse options, call the function that does the work, print the result.

Heavy imports (torch, nncf, openvino) happen inside each command so that `darkedge --help` is instant.
"""

from __future__ import annotations

import sys

import click

from darkedge import __version__
from darkedge.errors import DarkedgeError


class _Group(click.Group):
    """A click group that turns DarkedgeError into a one-line message and a non-zero exit, no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DarkedgeError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="darkedge")
def main() -> None:
    """Recognise actions in dark video with one INT8 network on raw frames."""


@main.group(cls=_Group)
def data() -> None:
    """Make, inspect and check data sets."""


# --- data commands (issue 2) ---

# --- enhance commands (issue 3) ---

# --- train command (issue 3) ---

# --- calib / quantize / export commands (issue 4) ---

# --- bench command (issue 5) ---

# --- infer command (issue 6) ---
