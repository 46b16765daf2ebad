"""The topic table is used: the runtime holds every process to it, and SubMaster judges freshness by it."""

from __future__ import annotations

import ast
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import zmq

from gridscout.control.vehicle import VehicleState, VehicleTelemetry
from gridscout.edge.config import Config
from gridscout.edge.runtime.bus import Endpoints, Publisher
from gridscout.edge.runtime.daemon import Runtime
from gridscout.edge.runtime.messages import (
    EVERY_PROCESS,
    TOPICS,
    DetectionBox,
    FrameDetections,
    TopicTableError,
    check_publisher,
    check_subscriber,
)
from gridscout.edge.runtime.process_table import PROCESSES
from gridscout.edge.runtime.runspec import RunSpec, write_runspec
from gridscout.edge.runtime.submaster import SubMaster

ROOT = Path(__file__).resolve().parents[1]
#: process name -> daemon module, from the process table; the supervisor is `gridscout run` itself
DAEMONS = {spec.name: ROOT / Path(*spec.module.split(".")[1:]).with_suffix(".py") for spec in PROCESSES}
KNOWN = set(DAEMONS) | {"supervisor", EVERY_PROCESS}


def test_every_producer_and_consumer_is_a_process_we_run():
    """Scenario: a row naming a process that does not exist (or a typo) is caught here."""
    for name, topic in TOPICS.items():
        assert topic.producer in KNOWN, (name, topic.producer)
        assert set(topic.consumers) <= KNOWN, (name, topic.consumers)


def _bus_calls(path: Path) -> dict[str, set[str]]:
    """Topic names passed to rt.publisher(...), rt.subscriber([...]) and rt.submaster([...]) in a daemon."""
    found: dict[str, set[str]] = {"publisher": set(), "subscriber": set(), "submaster": set()}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in found:
            arg = node.args[0]
            names = arg.elts if isinstance(arg, ast.List) else [arg]
            found[node.func.attr] |= {n.value for n in names if isinstance(n, ast.Constant)}
    return found


@pytest.mark.parametrize("process", sorted(DAEMONS))
def test_each_daemon_publishes_and_subscribes_only_what_the_table_gives_it(process):
    """Read from the daemons' own code: every topic a daemon opens is its own by the table (the runtime
    also refuses at start-up; this catches it before any run)."""
    calls = _bus_calls(DAEMONS[process])
    for topic in calls["publisher"]:
        check_publisher(process, topic)
    for topic in calls["subscriber"] | calls["submaster"]:
        check_subscriber(process, topic)
    produced = {name for name, t in TOPICS.items() if t.producer == process}
    assert produced <= calls["publisher"], f"{process} never publishes {produced - calls['publisher']}"


def test_publishing_or_subscribing_outside_the_table_names_the_row():
    with pytest.raises(TopicTableError, match=r"camera may not publish 'detections'.*perception produces it"):
        check_publisher("camera", "detections")
    with pytest.raises(TopicTableError, match=r"control may not subscribe to 'frames'.*perception, reporter"):
        check_subscriber("control", "frames")
    with pytest.raises(TopicTableError, match="unknown topic 'nope'"):
        check_publisher("camera", "nope")
    assert check_subscriber("vehicle-sim", "run_control").name == "run_control"  # every process


@pytest.fixture
def run_dir():
    path = Path(tempfile.mkdtemp(prefix="gs-"))
    spec = RunSpec(
        run_id="r",
        run_dir=str(path),
        config=Config().model_dump(),
        source="x",
        model="m",
        data_dir=str(path),
        device_id="d",
    )
    write_runspec(spec)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_runtime_refuses_a_topic_the_table_does_not_give_the_process(run_dir):
    """A real Runtime for the camera: asking for the perception's socket is an error at once."""
    rt = Runtime("camera", [str(run_dir)])
    try:
        with pytest.raises(TopicTableError, match="camera may not publish 'detections'"):
            rt.publisher("detections")
        with pytest.raises(TopicTableError, match="camera may not subscribe to 'vehicle_command'"):
            rt.submaster(["vehicle_command"])
        rt.publisher("frames").close()  # its own is fine
    finally:
        rt.close()


def _detections(t_capture_ns: int) -> FrameDetections:
    box = DetectionBox(1, 2, 3, 4, 0.9, "missing_cap", 1, True)
    return FrameDetections(
        t_mono_ns=time.monotonic_ns(), frame_id=1, t_capture_mono_ns=t_capture_ns, t_capture_wall_ns=0,
        t_source_s=0.0, width=640, height=480, boxes=(box,), infer_ms=1.0, model_name="m", model_sha256="s",
    )  # fmt: skip


def _until_received(pub: Publisher, sm: SubMaster, msg: object, topic: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pub.publish(msg)
        sm.update(0.05)
        if topic in sm.updated:
            return
    raise AssertionError(f"nothing arrived on {topic}")


def test_submaster_judges_perception_by_the_capture_time_of_its_frame(run_dir):
    """Scenario: detections of a frame captured 0.5 s ago arrive just now. They are not fresh: the frame
    behind them is old. Telemetry is judged by when the vehicle reported (t_rx), not when it was relayed."""
    ctx = zmq.Context()
    endpoints = Endpoints("ipc", ipc_dir=run_dir)
    pub_d, pub_t = Publisher(ctx, endpoints, "detections"), Publisher(ctx, endpoints, "telemetry")
    sm = SubMaster(ctx, endpoints, ["detections", "telemetry"])
    try:
        assert sm["detections"] is None and not sm.fresh("detections") and sm.age_s("detections") is None
        now = time.monotonic_ns()
        _until_received(pub_d, sm, _detections(now - 500_000_000), "detections")
        assert sm.received_s["detections"] is not None
        assert sm.age_s("detections") >= 0.5 and not sm.fresh("detections")  # 3 periods at 10 Hz: 0.3 s
        assert sm.fresh("detections", max_age_s=1.0)
        _until_received(pub_d, sm, _detections(time.monotonic_ns()), "detections")
        assert sm.fresh("detections")
        relayed_old = VehicleTelemetry(time.monotonic_ns(), now - 2_000_000_000, VehicleState.READY, True)
        _until_received(pub_t, sm, relayed_old, "telemetry")
        assert isinstance(sm["telemetry"], VehicleTelemetry) and not sm.fresh("telemetry")
        assert TOPICS["telemetry"].stale_after_s == pytest.approx(3 / 20)
    finally:
        for closable in (pub_d, pub_t, sm):
            closable.close()
        ctx.destroy(linger=0)
