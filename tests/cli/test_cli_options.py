"""The shared options of one command travel in one typed holder (mediatask.cli.options), not in
string keys of the click context: set by their callbacks, read far away."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from mediatask.cli.base import cli, follow_option, key_option, max_in_flight_option
from mediatask.cli.options import CommandOptions, command_options, remembered_option


def test_outside_a_command_the_options_are_empty() -> None:
    assert command_options() == CommandOptions()


def test_callbacks_fill_in_the_holder_the_command_reads() -> None:
    seen: list[CommandOptions] = []

    @click.group()
    @click.option("-q", is_flag=True, expose_value=False, callback=_quiet)
    def group() -> None:
        pass

    @group.command()
    @max_in_flight_option
    @follow_option
    @key_option
    def command(key: str | None) -> None:
        seen.append(command_options())

    result = CliRunner().invoke(
        group, ["-q", "command", "--max-in-flight", "a1d=2", "--follow", "poll", "--key", "k"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [CommandOptions(quiet=True, key="k", max_in_flight={"a1d": 2}, follow="poll")]


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """As ``-q`` before the command does: the group's holder is the command's too."""
    if value:
        command_options(ctx).quiet = True


def test_an_option_kept_in_no_field_is_refused_when_the_command_is_defined() -> None:
    with pytest.raises(AttributeError, match="no field 'nowhere'"):
        remembered_option("--x", field="nowhere")


def test_a_job_named_with_an_empty_provider_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(cli, ["run", " ", "upscale", "--dry-run"])
    assert result.exit_code == 1
    assert "Job.provider must not be empty" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
