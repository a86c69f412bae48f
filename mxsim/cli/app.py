"""The typer app and what every command shares: one place that turns errors into exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mxsim import __version__
from mxsim.errors import MxsimError, UsageError
from mxsim.units import parse_duration

app = typer.Typer(
    name="mxsim",
    help=(
        "Where would mail to a domain go, under each real MTA's rules?\n\n"
        "mxsim emulates a recursive resolver and the DNS lookups of Postfix, Exim, "
        "OpenSMTPD and Sendmail (and plain RFC 5321) over a scenario: a small world of "
        "zones, authoritative servers (farms included) and SMTP hosts. Start with\n\n"
        "  mxsim trace wa-students-2017 --pin broken\n\n"
        "and `mxsim scenarios` for the bundled worlds."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def fail(error: MxsimError) -> typer.Exit:
    """Print one line to stderr; the caller raises the returned Exit `from None` (no traceback)."""
    typer.echo(f"mxsim: error: {error}", err=True)
    return typer.Exit(int(error.exit_code))


def duration_option(text: str, option: str, *, positive: bool = False) -> float:
    """Seconds from a duration option (`90s`, `1h30m`), the option named in any error."""
    try:
        value = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{option} {text!r}: {error}") from None
    if positive and value <= 0:
        raise UsageError(f"{option} {text!r}: must be more than zero")
    return value


def mta_overrides(option: list[str] | None, mta_config: Path | None) -> dict[str, str]:
    """-o PARAM=VALUE (and -o mta:PARAM=VALUE) after the Postfix parameters of --mta-config main.cf."""
    from mxsim.mta.params import parse_overrides, read_main_cf
    from mxsim.mta.profiles import PROFILES

    overrides: dict[str, str] = {}
    if mta_config is not None:
        known = [p.name for p in PROFILES["postfix"].PARAMS]
        overrides.update({f"postfix:{k}": v for k, v in read_main_cf(mta_config, known).items()})
    overrides.update(parse_overrides(option or []))
    return overrides


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mxsim {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """mxsim: a mail-delivery path simulator."""
