"""The simulated crawler's core, driven with a synthetic clock: physics, watchdog, commands, idempotence."""

import pytest

from gridscout.hardware.crawler.protocol import (
    Ack,
    Close,
    CrawlerState,
    Heartbeat,
    Hello,
    HelloAck,
    HelloStatus,
    MsgId,
    Nack,
    NackReason,
    Packet,
    SetSpeed,
    Stop,
    Telemetry,
)
from gridscout.hardware.sim.crawler.core import CrawlerSim, SimConfig


def session(config: SimConfig | None = None, t: float = 0.0) -> CrawlerSim:
    sim = CrawlerSim(config or SimConfig(), t)
    (ack,) = sim.handle(Packet(0, Hello()), t)
    assert isinstance(ack, HelloAck) and ack.status == HelloStatus.OK and ack.hello_seq == 0
    return sim


def run(sim: CrawlerSim, t0: float, seconds: float, heartbeat_every: float | None = 0.1) -> float:
    """Advance the sim from t0 by `seconds` in 10 ms ticks, feeding host heartbeats; returns the end time."""
    t, next_hb, seq = t0, t0, 1000
    while t < t0 + seconds:
        t = round(t + 0.01, 6)
        if heartbeat_every is not None and t >= next_hb:
            sim.handle(Packet(seq, Heartbeat(t)), t)
            seq, next_hb = seq + 1, t + heartbeat_every
        sim.tick(t)
    return t


def test_speed_ramps_at_the_accel_limit_and_holds():
    """SET_SPEED 1 m/s at 0.5 m/s²: 0.5 m/s after 1 s, 1 m/s after 2 s, then 1 m/s of travel per second."""
    sim = session()
    assert sim.handle(Packet(1, SetSpeed(1.0)), 0.0) == [Ack(1, 0x10)]
    t = run(sim, 0.0, 1.0)
    assert sim.speed_mps == pytest.approx(0.5, abs=0.01) and sim.state == CrawlerState.MOVING
    t = run(sim, t, 1.0)
    start = sim.position_m
    run(sim, t, 2.0)
    assert sim.position_m - start == pytest.approx(2.0, abs=0.02)


def test_stop_brakes_hard():
    """STOP from 1 m/s at 2 m/s² brake: at rest within 0.5 s, state STOPPED."""
    sim = session(SimConfig(accel_mps2=10.0))
    sim.handle(Packet(1, SetSpeed(1.0)), 0.0)
    t = run(sim, 0.0, 0.5)
    assert sim.handle(Packet(2, Stop()), t)[0] == Ack(2, 0x11)
    run(sim, t, 0.52)
    assert sim.speed_mps == 0.0 and sim.state == CrawlerState.STOPPED


def test_end_of_line_stops_at_the_end_and_refuses_to_go_further():
    """Driving at the end of a 5 m line: it brakes in time, halts at 5.000 m in END_OF_LINE, NACKs forward speeds
    and accepts going back."""
    sim = session(SimConfig(line_length_m=5.0, accel_mps2=5.0))
    sim.handle(Packet(1, SetSpeed(2.0)), 0.0)
    t = run(sim, 0.0, 6.0)
    assert sim.position_m == 5.0 and sim.speed_mps == 0.0 and sim.state == CrawlerState.END_OF_LINE
    assert [e["event"] for e in sim.events].count("end_of_line") == 1
    assert sim.handle(Packet(2, SetSpeed(0.5)), t) == [Nack(2, 0x10, NackReason.AT_END_OF_LINE)]
    assert sim.handle(Packet(3, SetSpeed(-0.5)), t) == [Ack(3, 0x10)]


def test_failsafe_when_host_goes_quiet_and_resume_on_command():
    """No host frame for 0.3 s: FAILSAFE (braking to rest) just after the timeout; heartbeats alone keep it there;
    a new command resumes."""
    sim = session(SimConfig(accel_mps2=10.0))
    sim.handle(Packet(1, SetSpeed(1.0)), 0.0)
    last_host = run(sim, 0.0, 1.0)
    sim.handle(Packet(999, Heartbeat(last_host)), last_host)
    sim.events.clear()
    t = run(sim, last_host, 1.0, heartbeat_every=None)
    (failsafe,) = [e for e in sim.events if e["event"] == "failsafe"]
    assert 0.3 < failsafe["t_mono"] - last_host <= 0.32
    assert sim.state == CrawlerState.FAILSAFE and sim.speed_mps == 0.0 and sim.telemetry().failsafe
    t = run(sim, t, 0.5)
    assert sim.state == CrawlerState.FAILSAFE
    assert sim.handle(Packet(5000, SetSpeed(0.5)), t) == [Ack(5000, 0x10)]
    assert sim.state == CrawlerState.MOVING


def test_duplicates_are_idempotent_and_late_retries_are_stale():
    """A repeated seq gets the same answer and no second effect; an older command after a newer one is NACKed STALE."""
    sim = session()
    first = sim.handle(Packet(10, SetSpeed(1.0)), 0.0)
    assert sim.handle(Packet(10, SetSpeed(1.0)), 0.01) == first and sim.duplicates == 1
    assert [e["event"] for e in sim.events].count("command") == 1
    sim.handle(Packet(12, Stop()), 0.02)
    assert sim.handle(Packet(11, SetSpeed(1.5)), 0.03) == [Nack(11, 0x10, NackReason.STALE)]
    assert sim.target_mps == 0.0


def test_commands_need_a_session_and_a_sane_speed():
    """Before HELLO commands are NACKed NO_SESSION; above --max-speed SPEED_OUT_OF_RANGE; a foreign major is refused."""
    sim = CrawlerSim(SimConfig(max_speed_mps=1.0), 0.0)
    assert sim.handle(Packet(1, SetSpeed(0.5)), 0.0) == [Nack(1, 0x10, NackReason.NO_SESSION)]
    (refusal,) = sim.handle(Packet(2, Hello(2, 0)), 0.0)
    assert refusal.status == HelloStatus.MAJOR_MISMATCH and not sim.session
    sim.handle(Packet(3, Hello()), 0.0)
    assert sim.handle(Packet(4, SetSpeed(1.2)), 0.0) == [Nack(4, 0x10, NackReason.SPEED_OUT_OF_RANGE)]


def test_periodic_outputs_and_battery():
    """tick() emits telemetry at 20 Hz and heartbeats at 10 Hz; the battery drains with distance."""
    sim = session(SimConfig(accel_mps2=10.0))
    sim.handle(Packet(1, SetSpeed(2.0)), 0.0)
    out = []
    for i in range(1, 101):
        t = i * 0.01
        sim.handle(Packet(100 + i, Heartbeat(t)), t)
        out += sim.tick(t)
    assert 19 <= sum(isinstance(m, Telemetry) for m in out) <= 21
    assert 9 <= sum(isinstance(m, Heartbeat) for m in out) <= 11
    assert 99.0 < sim.battery_pct < 100.0 and sim.battery_v < 25.2


# -- faults to rehearse against ---------------------------------------------------------------


def test_a_mute_crawler_says_nothing_at_all():
    """--mute: no HELLO_ACK, no answers, no telemetry, no heartbeats."""
    sim = CrawlerSim(SimConfig(mute=True), 0.0)
    assert sim.handle(Packet(0, Hello()), 0.0) == []
    assert sim.handle(Packet(1, SetSpeed(0.5)), 0.1) == []
    assert sim.tick(1.0) == []


def test_a_slow_crawler_answers_hello_only_after_its_boot_delay():
    sim = CrawlerSim(SimConfig(hello_delay_s=2.0), 0.0)
    assert sim.handle(Packet(0, Hello()), 0.0) == []
    assert sim.handle(Packet(1, Hello()), 1.9) == []
    (ack,) = sim.handle(Packet(2, Hello()), 2.1)
    assert isinstance(ack, HelloAck) and ack.hello_seq == 2 and sim.session


@pytest.mark.parametrize("reason", [NackReason.NO_SESSION, NackReason.FAULT])
def test_a_refusing_crawler_nacks_every_command_even_in_a_session(reason):
    sim = session(SimConfig(refuse=reason))
    for seq, cmd in ((1, SetSpeed(0.2)), (2, Stop())):
        (answer,) = sim.handle(Packet(seq, cmd), 0.1)
        assert isinstance(answer, Nack) and answer.reason == reason
    assert sim.target_mps == 0.0


def test_a_crawler_that_never_acks_still_applies_commands():
    sim = session(SimConfig(ack=False, accel_mps2=5.0))
    assert sim.handle(Packet(1, SetSpeed(0.5)), 0.0) == []
    assert sim.handle(Packet(1, SetSpeed(0.5)), 0.05) == []  # its retry, unanswered too
    assert sim.target_mps == 0.5 and sim.state == CrawlerState.MOVING


def test_a_resent_copy_of_the_sessions_hello_is_answered_again_and_changes_nothing():
    """On a slow link the host's HELLO resend arrives after the HELLO_ACK went out: answered as a new HELLO it
    would restart the session. A copy comes before the session's first command; after one, the same seq is a
    restarted host's HELLO (it reuses seqs): a new session."""
    sim = session()
    (again,) = sim.handle(Packet(0, Hello()), 0.05)
    assert isinstance(again, HelloAck) and again.hello_seq == 0 and sim.duplicates == 1
    assert [e["event"] for e in sim.events].count("hello") == 1
    sim.handle(Packet(1, SetSpeed(1.0)), 0.1)
    (restarted,) = sim.handle(Packet(0, Hello()), 0.2)
    assert restarted.hello_seq == 0 and sim.target_mps == 0.0 and sim.last_cmd_seq is None
    assert [e["event"] for e in sim.events].count("hello") == 2


def test_the_framing_is_negotiated_and_close_ends_the_session():
    """A 1.1 crawler and a 1.1 host: wide (CRC-32) framing, and CLOSE brakes it to rest and ends the session.
    A 1.0 host, or a crawler configured as 1.0: 1.0 framing; a 1.0 crawler ignores CLOSE (an unknown id)."""
    sim = CrawlerSim(SimConfig(), 0.0)
    (ack,) = sim.handle(Packet(0, Hello(1, 1)), 0.0)
    assert ack.minor == 1 and sim.wide
    sim.handle(Packet(1, SetSpeed(1.0)), 0.0)
    assert sim.handle(Packet(2, Close()), 0.1) == [Ack(2, MsgId.CLOSE)]
    assert not sim.session and sim.target_mps == 0.0 and sim.hard_brake
    assert sim.handle(Packet(3, SetSpeed(1.0)), 0.2) == [Nack(3, MsgId.SET_SPEED, NackReason.NO_SESSION)]
    (ack,) = sim.handle(Packet(4, Hello(1, 0)), 0.3)
    assert not sim.wide  # a 1.0 host
    old = CrawlerSim(SimConfig(protocol_minor=0), 0.0)
    (ack,) = old.handle(Packet(0, Hello(1, 1)), 0.0)
    assert ack.minor == 0 and not old.wide
    assert old.handle(Packet(1, Close()), 0.1) == [] and old.session


def test_faults_to_rehearse_fault_at_start_and_a_timed_outage():
    """A crawler in FAULT from power-on refuses speeds but takes STOP; a deaf outage (from its first session)
    hears nothing, so its failsafe fires; a mute one says nothing but still obeys."""
    sim = session(SimConfig(fault_at_start=True))
    assert sim.state == CrawlerState.FAULT
    assert sim.handle(Packet(1, SetSpeed(0.5)), 0.0) == [Nack(1, MsgId.SET_SPEED, NackReason.FAULT)]
    assert sim.handle(Packet(2, Stop()), 0.0) == [Ack(2, MsgId.STOP)]
    deaf = session(SimConfig(outage=("deaf", 1.0, 1.0)))
    deaf.handle(Packet(1, SetSpeed(0.5)), 0.0)
    run(deaf, 0.0, 1.5)  # heartbeats fed, but from 1.0 s it hears none
    assert deaf.state == CrawlerState.FAILSAFE
    assert deaf.handle(Packet(2, Stop()), 1.6) == []  # still deaf
    assert deaf.handle(Packet(3, Stop()), 2.1) == [Ack(3, MsgId.STOP)]  # the outage is over
    mute = session(SimConfig(outage=("mute", 0.2, 1.0)))
    assert mute.handle(Packet(1, SetSpeed(0.5)), 0.5) == [] and mute.target_mps == 0.5
    assert mute.tick(0.6) == [] and mute.tick(1.3)  # telemetry again once it is over
