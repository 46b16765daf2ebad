"""The ZeroMQ bus over real ipc:// sockets: endpoints, zero-copy frames, bad input, message types, heartbeats."""

import dataclasses
import enum
import os
import shutil
import tempfile
import time
import types
import typing
from pathlib import Path

import msgspec
import numpy as np
import pytest
import zmq

from gridscout.edge.runtime.bus import Endpoints, HeartbeatReceiver, HeartbeatSender, Publisher, Subscriber
from gridscout.edge.runtime.messages import (
    TOPICS,
    DetectionBox,
    FrameDetections,
    FrameMeta,
    ProcessHeartbeat,
    RunControl,
)


@pytest.fixture
def ipc_dir():
    # unix socket paths are limited to ~100 bytes, so not pytest's (long) tmp_path
    path = Path(tempfile.mkdtemp(prefix="gs-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def _recv_until(sub: Subscriber, send, deadline_s: float = 3.0):
    """Resend until something arrives: PUB drops what it sends before the SUB has joined."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        send()
        received = sub.recv(0.05)
        if received is not None:
            return received
    return None


def _detections(frame_id: int, boxes: tuple[DetectionBox, ...] = ()) -> FrameDetections:
    return FrameDetections(
        t_mono_ns=time.monotonic_ns(),
        frame_id=frame_id,
        t_capture_mono_ns=1,
        t_capture_wall_ns=2,
        t_source_s=0.1,
        width=640,
        height=480,
        boxes=boxes,
        infer_ms=3.5,
        model_name="m",
        model_sha256="ab" * 32,
    )


# -- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoints", [Endpoints("ipc", ipc_dir=Path("/tmp/x")), Endpoints("tcp", tcp_base_port=9000)])
def test_every_topic_has_its_own_endpoint(endpoints):
    """No two topics share an address (a second bind would fail), for both transports."""
    addresses = [endpoints.of(topic) for topic in TOPICS]
    assert len(set(addresses)) == len(TOPICS)
    scheme = f"{endpoints.transport}://"
    assert all(a.startswith(scheme) for a in addresses)


def test_ipc_endpoints_live_in_the_ipc_dir_and_tcp_ports_are_consecutive():
    """ipc endpoints are files in the run dir; tcp ports are base_port + the topic's index."""
    assert Endpoints("ipc", ipc_dir=Path("/run/gs")).of("frames") == "ipc:///run/gs/frames"
    ports = sorted(int(Endpoints("tcp", tcp_base_port=9000).of(t).rsplit(":", 1)[1]) for t in TOPICS)
    assert ports == list(range(9000, 9000 + len(TOPICS)))


def test_bad_transport_is_a_value_error():
    """Only ipc and tcp exist; anything else fails when the endpoints are made, naming the value."""
    with pytest.raises(ValueError, match="'udp'"):
        Endpoints("udp")


def test_unknown_topic_is_a_key_error():
    """Asking for a topic not in the table fails rather than inventing an address."""
    with pytest.raises(KeyError, match="nope"):
        Endpoints("ipc").of("nope")


# -- frames -----------------------------------------------------------------------------------


def _frame_meta(width: int, height: int, frame_id: int = 0) -> FrameMeta:
    return FrameMeta(
        t_mono_ns=time.monotonic_ns(),
        frame_id=frame_id,
        t_capture_mono_ns=11,
        t_capture_wall_ns=12,
        width=width,
        height=height,
        source_name="synthetic://",
        name=f"frame-{frame_id}",
        t_source_s=0.7,
    )


def _send_one_frame(ctx, ipc_dir: Path, image: np.ndarray):
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    pub = Publisher(ctx, endpoints, "frames")
    sub = Subscriber(ctx, endpoints, ["frames"])
    meta = _frame_meta(image.shape[1], image.shape[0], frame_id=7)
    received = _recv_until(sub, lambda: pub.publish_frame(meta, image))
    pub.close()
    sub.close()
    assert received is not None, "no frame within 3 s"
    return meta, received


# 48x64 goes through zmq's small-message path, 480x640 (900 kB) through its zero-copy path.
@pytest.mark.parametrize("shape", [(48, 64, 3), (480, 640, 3)])
def test_frame_arrives_intact_as_a_view_of_the_received_buffer(ctx, ipc_dir, shape):
    """A frame sent with publish_frame comes out equal, shaped HxWx3, and is not copied on receive."""
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    meta, received = _send_one_frame(ctx, ipc_dir, image)
    assert received.topic == "frames"
    assert received.msg == meta
    assert received.image is not None
    assert received.image.shape == shape and received.image.dtype == np.uint8
    assert np.array_equal(received.image, image)
    # no copy on receive: the array is a view on the zmq buffer
    assert received.image.base is not None
    assert not received.image.flags.owndata


def test_received_frame_is_read_only(ctx, ipc_dir):
    """`Received.image` is documented read-only: writing into it (it is the bus's buffer) must raise."""
    _, received = _send_one_frame(ctx, ipc_dir, np.zeros((8, 8, 3), np.uint8))
    assert not received.image.flags.writeable
    with pytest.raises(ValueError):
        received.image[0, 0, 0] = 1


def test_non_contiguous_frame_is_sent_correctly(ctx, ipc_dir):
    """A strided view (e.g. a crop) is made contiguous before sending, so the pixels still match."""
    big = np.arange(40 * 60 * 3, dtype=np.uint32).astype(np.uint8).reshape(40, 60, 3)
    crop = big[5:25, 10:50]
    assert not crop.flags.c_contiguous
    _, received = _send_one_frame(ctx, ipc_dir, crop)
    assert received.image.shape == (20, 40, 3)
    assert np.array_equal(received.image, crop)


def test_frame_with_wrong_pixel_count_is_counted_as_bad(ctx, ipc_dir):
    """Pixels that do not match the meta's width x height are a bad message, not an exception."""
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    pub = Publisher(ctx, endpoints, "frames")
    sub = Subscriber(ctx, endpoints, ["frames"])
    good = np.zeros((4, 4, 3), np.uint8)
    assert _recv_until(sub, lambda: pub.publish_frame(_frame_meta(4, 4), good)) is not None
    time.sleep(0.05)
    sub.drain()
    bad_before = sub.bad_messages
    pub.publish_frame(_frame_meta(5, 4), good)  # claims 5 wide, carries 4
    pub.publish_frame(_frame_meta(4, 4, frame_id=9), good)
    received = []
    end = time.monotonic() + 2
    while not received and time.monotonic() < end:
        time.sleep(0.02)
        received = sub.drain()
    assert [r.msg.frame_id for r in received] == [9]
    assert sub.bad_messages - bad_before == 1
    pub.close()
    sub.close()


# -- bad input --------------------------------------------------------------------------------


def test_garbage_is_counted_and_skipped_and_the_next_good_message_arrives(ctx, ipc_dir):
    """Undecodable bytes on a topic do not raise: they are counted in bad_messages and the stream goes on."""
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.bind(endpoints.of("detections"))
    sub = Subscriber(ctx, endpoints, ["detections"])
    good = _detections(5, (DetectionBox(1, 2, 3, 4, 0.9, "insulator", 3, True),))
    encoded = msgspec.msgpack.encode(good)

    # join first: resend a probe until one arrives, then the socket pair is connected
    assert _recv_until(sub, lambda: raw.send_multipart([b"detections", encoded])) is not None
    sub.drain()
    bad_before = sub.bad_messages

    raw.send_multipart([b"detections", b"\xff\x00garbage"])
    raw.send_multipart([b"detections"])  # a message with no body at all
    raw.send_multipart([b"detections", encoded])
    received = []
    end = time.monotonic() + 3
    while not received and time.monotonic() < end:
        if sub.recv(0.05) is not None:
            received.append(True)  # recv returns None for a bad message and the good one is next
        received.extend(sub.drain())
    assert received, "the good message after the garbage never arrived"
    assert sub.bad_messages - bad_before == 2
    raw.close()
    sub.close()


def test_recv_returns_none_when_nothing_arrives(ctx, ipc_dir):
    """recv() times out with None rather than blocking; drain() on an idle socket is empty."""
    sub = Subscriber(ctx, Endpoints("ipc", ipc_dir=ipc_dir), ["telemetry"])
    start = time.monotonic()
    assert sub.recv(0.1) is None
    assert 0.05 <= time.monotonic() - start < 1.0
    assert sub.drain() == []
    sub.close()


def test_drain_returns_queued_messages_in_order(ctx, ipc_dir):
    """drain() hands back everything queued, oldest first, without waiting."""
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    pub = Publisher(ctx, endpoints, "run_control")
    sub = Subscriber(ctx, endpoints, ["run_control"])
    assert _recv_until(sub, lambda: pub.publish(RunControl(t_mono_ns=0, state="probe"))) is not None
    time.sleep(0.05)
    sub.drain()
    states = ["starting", "running", "stopping"]
    for state in states:
        pub.publish(RunControl(t_mono_ns=time.monotonic_ns(), state=state))
    time.sleep(0.1)
    drained = sub.drain()
    assert [r.msg.state for r in drained] == states
    assert all(r.topic == "run_control" and r.image is None for r in drained)
    pub.close()
    sub.close()


# -- message types ----------------------------------------------------------------------------


def _sample(tp: typing.Any) -> typing.Any:
    """A simple value for a field annotation."""
    origin = typing.get_origin(tp)
    if tp is int:
        return 3
    if tp is float:
        return 1.5
    if tp is str:
        return "x"
    if tp is bool:
        return True
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return (_sample(args[0]),)
        return tuple(_sample(a) for a in args)
    if origin is dict:
        return {"k": 2.0} if typing.get_args(tp)[1] is float else {"k": 2}
    if origin in (types.UnionType, typing.Union):
        return _sample(next(a for a in typing.get_args(tp) if a is not type(None)))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp)):
        return _instance(tp)
    raise AssertionError(f"no sample for {tp!r}")


def _instance(struct: type) -> object:
    hints = typing.get_type_hints(struct)
    names = (
        struct.__struct_fields__ if issubclass(struct, msgspec.Struct) else [f.name for f in dataclasses.fields(struct)]
    )
    return struct(**{name: _sample(hints[name]) for name in names})


@pytest.mark.parametrize("topic", list(TOPICS))
def test_each_topic_type_round_trips_through_msgpack(topic):
    """An instance of the topic's type, every field set, decodes back equal with the topic's own decoder type;
    every type carries the bus's conventions (`t_mono_ns`, `frame_id`) and the topic's freshness field."""
    tp = TOPICS[topic].type
    hints = typing.get_type_hints(tp)
    assert {"t_mono_ns", "frame_id", TOPICS[topic].time_field} <= set(hints)
    msg = _instance(tp)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(msg), type=tp)
    assert decoded == msg
    assert type(decoded) is tp


def test_each_topic_type_is_distinct_from_the_others():
    """Decoding one topic's message with another topic's type fails (topics are not interchangeable)."""
    detections = msgspec.msgpack.encode(_instance(FrameDetections))
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(detections, type=ProcessHeartbeat)


def test_topic_table_rows_are_consistent():
    """Each row's key is its name; only frames carry pixels (the receiver reshapes those)."""
    for name, topic in TOPICS.items():
        assert topic.name == name
    assert [n for n, t in TOPICS.items() if t.carries_pixels] == ["frames"]
    assert TOPICS["frames"].type is FrameMeta


# -- heartbeats -------------------------------------------------------------------------------


def test_heartbeats_reach_the_receiver_with_their_stats(ctx, ipc_dir):
    """A sender's heartbeats arrive at the receiver with process name, pid, ready flag and stats."""

    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    receiver = HeartbeatReceiver(ctx, endpoints)
    sender = HeartbeatSender(ctx, endpoints, "camera", period_s=0.05)
    beats: list[ProcessHeartbeat] = []
    end = time.monotonic() + 3
    while not beats and time.monotonic() < end:
        sender.beat(ready=True, stats={"frames": 12.0, "dropped_frames": 1.0})
        beats = receiver.recv_all(0.05)
    assert beats, "no heartbeat within 3 s"
    beat = beats[-1]
    assert beat.process == "camera"
    assert beat.pid == os.getpid()
    assert beat.ready is True
    assert beat.stats == {"frames": 12.0, "dropped_frames": 1.0}
    assert receiver.bad_messages == 0
    sender.close()
    receiver.close()


def test_heartbeat_sender_rate_limits_unless_forced(ctx, ipc_dir):
    """beat() sends at most once per period; force=True sends anyway (e.g. on a state change)."""
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    receiver = HeartbeatReceiver(ctx, endpoints)
    sender = HeartbeatSender(ctx, endpoints, "control", period_s=10.0)
    # PUSH/PULL queues once connected; give the connect a moment, then send a burst
    time.sleep(0.1)
    for _ in range(5):
        sender.beat(ready=False)
    sender.beat(ready=True, force=True)
    beats: list[ProcessHeartbeat] = []
    end = time.monotonic() + 2
    while len(beats) < 2 and time.monotonic() < end:
        beats.extend(receiver.recv_all(0.05))
    time.sleep(0.1)
    beats.extend(receiver.recv_all(0.0))
    assert [b.ready for b in beats] == [False, True]
    sender.close()
    receiver.close()


def test_garbage_heartbeat_is_counted(ctx, ipc_dir):
    """A heartbeat that does not decode is counted on the receiver and dropped; good ones still arrive."""
    endpoints = Endpoints("ipc", ipc_dir=ipc_dir)
    receiver = HeartbeatReceiver(ctx, endpoints)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(endpoints.of("heartbeat"))
    sender = HeartbeatSender(ctx, endpoints, "api", period_s=0.0)
    push.send_multipart([b"heartbeat", b"\xc1"])
    sender.beat(stats={"requests": 1.0})
    beats: list[ProcessHeartbeat] = []
    end = time.monotonic() + 2
    while (not beats or receiver.bad_messages == 0) and time.monotonic() < end:
        beats.extend(receiver.recv_all(0.05))
    assert receiver.bad_messages == 1
    assert [b.process for b in beats] == ["api"]
    push.close()
    sender.close()
    receiver.close()
