"""The crawler fault suite: `gridscout run` against a crawler with each fault a crew meets, and what it did.

    python -m sim_tests.fault_suite                 # every scenario (about 5 minutes)
    python -m sim_tests.fault_suite --only deaf mute

Each scenario starts the project's crawler simulator with one fault switched on (a fault from power-on, an
outage that starts 6 s into the session, a crawler that never answers or never ACKs, one that refuses
everything) or behind `gridscout sim link` (a slow, lossy link), runs the whole chain on live footage
against it as a real crawler (`--vehicle crawler:URL`), and prints one row: the exit status, the reason
line (the first FAILED line; "ok" when it passed), and the time from the fault to the crawler's stop (its
own failsafe, or a STOP it applied), from the simulator's log. A scenario whose row differs from what it
expects (exit status, a word of the reason) is marked and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from gridscout.hardware.sim.link_proxy import LinkProxy
from sim_tests.chain import Chain, StandaloneSim, free_port

#: live footage long enough for an outage 6 s into the session to start and end
SOURCE = "synthetic://demo?frames=200"
OUTAGE_AT_S, OUTAGE_S = 6.0, 2.5


@dataclass(frozen=True)
class Scenario:
    name: str
    sim_flags: tuple[str, ...] = ()
    one_way_ms: float | None = None  # through `gridscout sim link`
    loss: float = 0.0
    expect_exit: int = 0
    expect_reason: str = "ok"  # a word of the reason line
    fault_at_s: float | None = None  # seconds after the first session; None: from power-on


SCENARIOS = (
    Scenario("healthy"),
    Scenario("FAULT from power-on", ("--fault-at-start",), expect_exit=1, expect_reason="FAULT"),  # never moves
    Scenario("never answers", ("--mute",), expect_exit=1, expect_reason="never connected"),
    Scenario("refuses everything", ("--refuse", "NO_SESSION"), expect_exit=1, expect_reason="NO_SESSION"),
    # the host drops a link that answers nothing for 0.4 s and shakes hands again: named first, with why
    Scenario("never ACKs", ("--no-ack",), expect_exit=1, expect_reason="answered no command"),
    Scenario(
        "deaf 2.5 s", ("--outage", f"deaf:{OUTAGE_AT_S}:{OUTAGE_S}"), expect_exit=1, expect_reason="FAILSAFE",
        fault_at_s=OUTAGE_AT_S,
    ),
    Scenario("mute 2.5 s", ("--outage", f"mute:{OUTAGE_AT_S}:{OUTAGE_S}"), expect_exit=1, fault_at_s=OUTAGE_AT_S,
             expect_reason="vehicle"),
    # silent both ways: the crawler stops itself unheard, and the new session after it starts from READY, so
    # what the host saw is the link it lost (the time to STOP, from the crawler's log, shows its own stop)
    Scenario(
        "silent 2.5 s", ("--outage", f"silent:{OUTAGE_AT_S}:{OUTAGE_S}"), expect_exit=1, expect_reason="lost its link",
        fault_at_s=OUTAGE_AT_S,
    ),
    Scenario("link 60 ms round trip", one_way_ms=30),
    Scenario("link 130 ms round trip", one_way_ms=65),
    Scenario("link 250 ms round trip, 1 % loss", one_way_ms=125, loss=0.01),
)  # fmt: skip


@dataclass
class Row:
    scenario: Scenario
    exit_code: int
    reason: str
    to_stop_s: float | None

    @property
    def as_expected(self) -> bool:
        s = self.scenario
        return self.exit_code == s.expect_exit and s.expect_reason in self.reason

    def line(self) -> str:
        stop = "-" if self.to_stop_s is None else f"{self.to_stop_s:.2f} s"
        mark = "" if self.as_expected else "   <- not as expected"
        return f"{self.scenario.name:<34} exit {self.exit_code}  {stop:>7}  {self.reason}{mark}"


def _time_to_stop(sim: StandaloneSim, scenario: Scenario) -> float | None:
    """From the fault to the crawler's stop: its failsafe, or a STOP it applied (the simulator's clock)."""
    if scenario.fault_at_s is None:
        return None
    hellos = [e["t_mono"] for e in sim.events("hello") if e.get("accepted")]
    if not hellos:
        return None
    onset = hellos[0] + scenario.fault_at_s
    stops = [e["t_mono"] for e in sim.events("failsafe") if e["t_mono"] >= onset]
    stops += [e["t_mono"] for e in sim.events("command") if e["type"] == "stop" and e["t_mono"] >= onset]
    return min(stops) - onset if stops else None


def run_scenario(scenario: Scenario, tmp: Path) -> Row:
    proxy = stop = None
    if scenario.one_way_ms is None:
        sim = StandaloneSim(tmp, *scenario.sim_flags)
        uri = sim.uri
    else:
        crawler, host = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        sim = StandaloneSim(tmp, "--zmq", crawler, *scenario.sim_flags)
        proxy = LinkProxy(host, crawler, delay_s=scenario.one_way_ms / 1000, loss=scenario.loss, seed=1)
        stop = threading.Event()
        threading.Thread(target=proxy.run, args=(stop,), daemon=True).start()
        uri = f"crawler:{host}"
    vehicle = {"uri": uri, "connect_timeout_s": 5.0}
    chain = Chain(tmp, source=SOURCE, mode="live", extra={"vehicle": vehicle, "api": {"enabled": False}})
    try:
        code = chain.wait(240)
        failed = [line for line in chain.stdout().splitlines() if line.startswith("FAILED")]
        reason = failed[0].removeprefix("FAILED").strip() if failed else "ok"
        return Row(scenario, code, reason, _time_to_stop(sim, scenario))
    finally:
        chain.close()
        sim.close()
        if stop is not None:
            stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="WORD", help="scenarios whose name has one of these words")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.only or any(w in s.name for w in args.only)]
    if not chosen:
        parser.error(f"--only {' '.join(args.only)}: no scenario matches ({', '.join(s.name for s in SCENARIOS)})")
    print(f"{'scenario':<34} {'exit':<6} {'to STOP':>7}  reason", flush=True)
    rows = []
    for scenario in chosen:
        with tempfile.TemporaryDirectory(prefix="gridscout-fault-") as tmp:
            rows.append(run_scenario(scenario, Path(tmp)))
        print(rows[-1].line(), flush=True)
    return 0 if all(r.as_expected for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
