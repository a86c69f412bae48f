"""`mxsim lab up|down|status|run`: a scenario served on real sockets (docs/lab.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxsim.cli.app import app, duration_option, fail
from mxsim.errors import MxsimError, UsageError
from mxsim.exits import LabExit, exit_help

if TYPE_CHECKING:
    from mxsim.commands.trace import TraceConfig, TraceResult

DEFAULT_STATE = Path(".mxsim-lab")
DEFAULT_IDLE = "60s"  # mxsim.lab.smtp_session.IDLE_TIMEOUT, said without loading the lab

lab_app = typer.Typer(
    name="lab",
    epilog=exit_help("lab") + " `lab run` exits with the command's own code.",
    help=(
        "Serve a scenario's world on real sockets, for mxsim's wire trace and for real software.\n\n"
        "Every authoritative server of the scenario (root and TLDs included) answers DNS over UDP "
        "and TCP on its own loopback address (127.53.x.y; mail hosts on 127.25.x.y), with the farm "
        "behaviours of the scenario: a backend drawn per query, NSID, AA by the RD flag, countdown "
        "TTLs, drop, delay, truncation. Each mail host listens on port 25 of its address and "
        "behaves as its `hosts` entry says (accept and record, refuse, drop, tarpit, reject, "
        "tempfail, slow).\n\n"
        "\b\n"  # click: keep the example lines as written
        "  mxsim lab up wa-students-2017 --pin broken --resolver unbound\n"
        "  dig @127.54.0.1 wa-students.org MX\n"
        "  mxsim trace wa-students-2017 --via-lab .mxsim-lab\n"
        "  mxsim lab down\n\n"
        "With --netns NAME (root, iproute2) everything runs in a network namespace with only `lo`: "
        "there the lab serves the scenario's real addresses, `drop` is an iptables DROP rule and "
        "unanswered SYNs fail after about 3 s. Run clients with `ip netns exec NAME ...`."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(lab_app)

StateOption = Annotated[Path, typer.Option(
    "--state", help="The lab's state folder: PIDs, address map, root hints, resolv.conf, logs. "
                    "New, empty, or one a lab used before (it carries mxsim-lab.json); "
                    "`lab down` removes only what the lab wrote there.")]
IdleOption = Annotated[str, typer.Option(
    "--smtp-idle-timeout", metavar="S",
    help="How long a mail host waits for a client's next command before it says 421 and "
         "closes, e.g. 60s (Postfix's smtpd_timeout is 300s, 10s under stress).")]


def _up(
    scenario: str, state: Path, resolver: str, netns_name: str | None, mapped: bool,
    pin: list[str] | None, seed: int, dns_port: int, smtp_port: int, smtp_idle_timeout: str,
    time_scale: float | None = None,
) -> None:
    from mxsim.lab.runner import lab_up

    info = lab_up(
        scenario, state, dns_port=dns_port, smtp_port=smtp_port, pins=pin or [], seed=seed,
        resolver=resolver, netns_name=netns_name, real_addresses=(not mapped) if netns_name else None,
        smtp_idle_timeout=duration_option(smtp_idle_timeout, "--smtp-idle-timeout", positive=True),
        time_scale=time_scale,
    )
    typer.echo(f"lab {scenario} up: pid {info.pid}, state {info.state_dir}")
    where = f" in network namespace {info.netns}" if info.netns else ""
    shown = "real addresses" if info.address_map.inside_namespace else "loopback addresses"
    typer.echo(f"  DNS on port {info.dns_port} of {len(info.address_map.dns_addresses())} {shown}{where}")
    typer.echo(f"  SMTP on port {info.smtp_port}; root hints {info.root_hints}; resolv.conf {info.resolv_conf}")
    if info.resolver is not None:
        typer.echo(f"  resolver: unbound at {info.resolver[0]} port {info.resolver[1]}")
    else:
        typer.echo("  resolver: none (`mxsim trace --via-lab` iterates from the root hints itself)")
    drops = sorted({mode for mode in info.smtp_modes.values() if mode.startswith("drop")})
    for mode in drops:
        typer.echo(f"  {mode}")
    typer.echo(f"take it down with: mxsim lab down --state {info.state_dir}")


@lab_app.command("up")
def up(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or the name of a bundled one.")],
    state: StateOption = DEFAULT_STATE,
    resolver: Annotated[str, typer.Option(
        help="`unbound`: also start Debian's unbound over the lab's root (needs --dns-port 53) "
             "and print its address; `none`: no resolver.")] = "none",
    netns_name: Annotated[str | None, typer.Option(
        "--netns", help="Run the lab (and unbound) in a new network namespace of this name. Needs root.")] = None,
    mapped: Annotated[bool, typer.Option(
        "--mapped", help="With --netns: serve mapped loopback addresses, not the scenario's real ones.")] = False,
    pin: Annotated[list[str] | None, typer.Option(
        "--pin", help="SERVER=BACKEND or a case name (e.g. broken): that farm always answers with that backend.")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of the per-query backend draws.")] = 0,
    dns_port: Annotated[int, typer.Option(help="DNS port of every name server address.")] = 53,
    smtp_port: Annotated[int, typer.Option(help="SMTP port of every mail host address.")] = 25,
    smtp_idle_timeout: IdleOption = DEFAULT_IDLE,
    time_scale: Annotated[float | None, typer.Option(
        "--time-scale", metavar="K",
        help="Follow the scenario's `timeline` on the wall clock, K times faster (60: one hour in one "
             "minute), from when the lab is up: name servers answer from each change on.")] = None,
) -> None:
    """Serve SCENARIO on real sockets until `mxsim lab down`. Exit 3 with one line on any error."""
    try:
        _up(scenario, state, resolver, netns_name, mapped, pin, seed, dns_port, smtp_port, smtp_idle_timeout,
            time_scale)
    except MxsimError as error:
        raise fail(error) from None


@lab_app.command("down")
def down(state: StateOption = DEFAULT_STATE) -> None:
    """Stop exactly what `lab up` started from this state folder (also after a crash), and clean it."""
    from mxsim.lab.runner import lab_down

    try:
        result = lab_down(state)
    except MxsimError as error:
        raise fail(error) from None
    typer.echo(f"lab down: pid {result.pid if result.pid is not None else '-'} {result.outcome}")


@lab_app.command("status")
def status(state: StateOption = DEFAULT_STATE) -> None:
    """What runs, where (the address map), and what each address saw. Exit 1 if nothing runs."""
    from mxsim.lab.runner import lab_status, render_status

    result = lab_status(state)
    typer.echo(render_status(result))
    if not result.running:
        raise typer.Exit(int(LabExit.NOT_RUNNING))


@lab_app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or the name of a bundled one.")],
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.")],
    state: StateOption = DEFAULT_STATE,
    resolver: Annotated[str, typer.Option(help="unbound or none, as for `lab up`.")] = "none",
    netns_name: Annotated[str | None, typer.Option("--netns", help="As for `lab up`.")] = None,
    mapped: Annotated[bool, typer.Option("--mapped", help="As for `lab up`.")] = False,
    pin: Annotated[list[str] | None, typer.Option("--pin", help="As for `lab up`.")] = None,
    seed: Annotated[int, typer.Option(help="As for `lab up`.")] = 0,
    dns_port: Annotated[int, typer.Option(help="As for `lab up`.")] = 53,
    smtp_port: Annotated[int, typer.Option(help="As for `lab up`.")] = 25,
    smtp_idle_timeout: IdleOption = DEFAULT_IDLE,
) -> None:
    """Bring the lab up, run `-- CMD...` with the lab's resolver, take the lab down; exit with CMD's code.

    With --netns, CMD runs inside the namespace, where /etc/resolv.conf names the lab's
    resolver. Without it, glibc cannot be pointed elsewhere; CMD gets MXSIM_LAB_STATE,
    MXSIM_LAB_RESOLVER (address:port, with --resolver unbound), MXSIM_LAB_DNS_PORT,
    MXSIM_LAB_SMTP_PORT, MXSIM_LAB_ROOT_HINTS and MXSIM_LAB_RESOLV_CONF.
    """
    from mxsim.lab.runner import lab_down, lab_endpoint

    if not command:
        raise fail(UsageError("give the command after `--`, e.g. mxsim lab run SCENARIO -- dig MX example.org"))
    try:
        _up(scenario, state, resolver, netns_name, mapped, pin, seed, dns_port, smtp_port, smtp_idle_timeout)
    except MxsimError as error:
        raise fail(error) from None
    code = 3
    try:
        endpoint = lab_endpoint(state)
        folder = endpoint.state_dir or state.resolve()
        env = {
            **os.environ, "MXSIM_LAB_STATE": str(folder), "MXSIM_LAB_DNS_PORT": str(endpoint.dns_port),
            "MXSIM_LAB_SMTP_PORT": str(endpoint.smtp_port),
            "MXSIM_LAB_ROOT_HINTS": str(folder / "root.hints"),
            "MXSIM_LAB_RESOLV_CONF": str(folder / "resolv.conf"),
        }
        if endpoint.resolver is not None:
            env["MXSIM_LAB_RESOLVER"] = f"{endpoint.resolver[0]}:{endpoint.resolver[1]}"
        prefix = ["ip", "netns", "exec", endpoint.netns] if endpoint.netns else []
        try:
            code = subprocess.run([*prefix, *command], env=env, check=False).returncode
        except OSError as error:
            typer.echo(f"mxsim: error: cannot run {command[0]}: {error.strerror or error}", err=True)
    except MxsimError as error:
        typer.echo(f"mxsim: error: {error}", err=True)
    finally:
        try:
            lab_down(state)
        except MxsimError as error:
            typer.echo(f"mxsim: error: {error}", err=True)
    raise typer.Exit(code)


def reenter_namespace(name: str) -> None:
    """Run this same command again inside network namespace `name`, and exit with its code.

    A lab of real addresses is reachable only from inside its namespace; `ip netns exec`
    also mounts the lab's resolv.conf there.
    """
    command = ["ip", "netns", "exec", name, sys.executable, "-c",
               "from mxsim.cli import main; main()", *sys.argv[1:]]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        code = subprocess.run(command, env=env, check=False).returncode
    except OSError as error:
        raise fail(UsageError(f"cannot enter network namespace {name}: {error.strerror or error}")) from None
    raise typer.Exit(code)


def trace_via_lab(config: TraceConfig, state: Path, time_scale: float) -> TraceResult:
    """`mxsim trace --via-lab STATE`: the wire trace, entering the lab's namespace if it has one."""
    from mxsim.commands.trace_wire import WireTraceConfig, run_wire_trace
    from mxsim.lab import netns
    from mxsim.lab.runner import lab_endpoint, restart_resolver

    if not 0 < time_scale <= 1:
        raise UsageError(f"--time-scale {time_scale:g}: expected a factor in (0, 1], e.g. 0.02")
    endpoint = lab_endpoint(state)
    if endpoint.netns and not netns.inside(endpoint.netns):
        reenter_namespace(endpoint.netns)
    folder = endpoint.state_dir or state.resolve()

    def restart() -> None:
        restart_resolver(folder)

    return run_wire_trace(WireTraceConfig(
        config, endpoint, time_scale, restart_resolver=restart if endpoint.resolver else None,
    ))
