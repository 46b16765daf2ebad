"""`gridscout sim crawler` forwards to the simulator's own options (edge/commands/sim.py)."""

import argparse

import pytest

from gridscout.edge.cli import sim as sim_command
from gridscout.hardware.sim.crawler import server as crawler_sim


def gridscout_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridscout")
    sim_command.register(parser.add_subparsers(dest="command"))
    return parser


def test_sim_crawler_parses_the_simulator_options():
    """The nested subcommand takes the simulator server's own options and runs its `run`."""
    args = gridscout_parser().parse_args(
        ["sim", "crawler", "--line-length", "50", "--heartbeat-timeout", "0.5", "--zmq", "tcp://127.0.0.1:5599"]
    )
    assert args.func is crawler_sim.run
    assert (args.line_length, args.heartbeat_timeout, args.zmq) == (50.0, 0.5, "tcp://127.0.0.1:5599")
    assert vars(crawler_sim.build_parser().parse_args([])).keys() <= vars(args).keys()


def test_sim_needs_a_device_and_rejects_bad_values(capsys):
    """`gridscout sim` alone, or a negative line length, is a usage error (exit 2) with a message."""
    with pytest.raises(SystemExit) as exc:
        gridscout_parser().parse_args(["sim"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        gridscout_parser().parse_args(["sim", "crawler", "--line-length", "-3"])
    assert "must be > 0" in capsys.readouterr().err


def test_help_explains_the_stdout_contract(capsys):
    """--help says what the first stdout line is and lists the physics options."""
    with pytest.raises(SystemExit) as exc:
        crawler_sim.main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "first stdout line" in out and "--max-speed" in out and "--heartbeat-timeout" in out


def test_sim_link_refuses_a_bad_address_or_loss_with_one_line(capsys):
    """`gridscout sim link` with an address that is no tcp://host:port, or a loss of 1 or more: exit 2, our line."""
    parser = gridscout_parser()
    for argv, says in (
        (["--listen", "udp://x", "--to", "tcp://127.0.0.1:5601"], "bad ZeroMQ crawler link 'udp://x'"),
        (["--listen", "tcp://127.0.0.1:5600", "--to", "tcp://127.0.0.1:5601", "--loss", "1.5"], "0 <= loss < 1"),
    ):
        args = parser.parse_args(["sim", "link", *argv])
        assert args.func(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("gridscout sim link: error:") and says in err[0]
