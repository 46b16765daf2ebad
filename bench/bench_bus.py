"""What moving one camera frame over the bus costs: GridScout's zero-copy path against two naive baselines.

    python bench/bench_bus.py                     # 640x480x3 frames, ipc:// and tcp://, 500 frames a case
    python bench/bench_bus.py --frames 1000 --repeats 5 --json bus.json

A 640x480x3 uint8 frame goes from a PUB socket in this process to a SUB socket in a receiver process,
three ways:
- gridscout: `Publisher.publish_frame` (hands zmq the numpy buffer, copy=False) and `Subscriber.recv`
  (a read-only numpy view on the received zmq buffer): no copies besides the transport's own;
- naive: `image.tobytes()` + `send_multipart(copy=True)`, `recv_multipart()` + `np.frombuffer(...).copy()`;
- pickle: `pickle.dumps(image)` (highest protocol, in-band) and `pickle.loads`.
The receiver checks every frame: it sends back the frame index and a checksum of a grid of pixels plus one
frame-specific row, which the sender compares with its own (any mismatch aborts the bench).

Two measurements per case, each the median of `--repeats` interleaved rounds:
- lock-step: one frame in flight; µs from the send call until the receiver's ack is back (includes a small
  ack round trip, the same for every method: `floor` is that round trip with a 1-byte payload);
- stream: up to `--window` frames in flight (credit from acks, like the camera in replay); µs/frame.
Ratios are baseline time / gridscout time (> 1: gridscout is faster).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np
import zmq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import finish_machine, machine, machine_line  # noqa: E402
from gridscout.edge.runtime.bus import Endpoints, Publisher, Subscriber  # noqa: E402
from gridscout.edge.runtime.messages import FrameMeta  # noqa: E402
from gridscout.edge.runtime.ports import free_port_block  # noqa: E402

METHODS = ("gridscout", "naive", "pickle")
#: tcp ports a case may take: its topics' consecutive endpoints (up to 10) and room to spare
PORTS_PER_CASE = 12
HEIGHT, WIDTH = 480, 640
DISTINCT_FRAMES = 8
STOP = -1
_ENC = msgspec.msgpack.Encoder()
_META_DEC = msgspec.msgpack.Decoder(FrameMeta)


def make_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(n)]


def checksum(image: np.ndarray, index: int) -> int:
    """A grid of pixels plus one row that depends on the frame index: catches stale or garbled frames."""
    if image.shape != (HEIGHT, WIDTH, 3):
        return -1
    return int(image[::37, ::41].sum(dtype=np.int64)) * 1000 + int(image[index % HEIGHT].sum(dtype=np.int64))


def meta_for(index: int, height: int = HEIGHT, width: int = WIDTH) -> FrameMeta:
    now = time.monotonic_ns()
    return FrameMeta(
        t_mono_ns=now,
        frame_id=index,
        t_capture_mono_ns=now,
        t_capture_wall_ns=time.time_ns(),
        width=width,
        height=height,
        source_name="bench",
        name=f"frame-{index}",
        t_source_s=0.0,
    )


# -- the receiver process -----------------------------------------------------------------------------------


def receiver(method: str, endpoints: Endpoints, ack_endpoint: str) -> None:
    ctx = zmq.Context()
    ack = ctx.socket(zmq.PUSH)
    ack.setsockopt(zmq.LINGER, 0)
    ack.connect(ack_endpoint)
    if method == "gridscout":
        sub = Subscriber(ctx, endpoints, ["frames"], hwm=100)

        def recv() -> tuple[int, np.ndarray]:
            received = None
            while received is None:
                received = sub.recv(1.0)
            return received.msg.frame_id, received.image
    else:
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, 100)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoints.of("frames"))
        sock.setsockopt(zmq.SUBSCRIBE, b"frames")

        if method == "naive":

            def recv() -> tuple[int, np.ndarray]:
                parts = sock.recv_multipart()
                meta = _META_DEC.decode(parts[1])
                image = np.frombuffer(parts[2], dtype=np.uint8).reshape(meta.height, meta.width, 3).copy()
                return meta.frame_id, image
        else:

            def recv() -> tuple[int, np.ndarray]:
                parts = sock.recv_multipart()
                return pickle.loads(parts[1])

    try:
        while True:
            index, image = recv()
            if index == STOP:
                break
            ack.send_multipart(
                [index.to_bytes(8, "little", signed=True), checksum(image, index).to_bytes(16, "little", signed=True)]
            )
    finally:
        ctx.destroy(linger=0)


# -- the sender (this process) -------------------------------------------------------------------------------


class Sender:
    def __init__(self, method: str, ctx: zmq.Context, endpoints: Endpoints) -> None:
        self.method = method
        if method == "gridscout":
            self.pub = Publisher(ctx, endpoints, "frames", hwm=100)
            self.sock = None
        else:
            self.pub = None
            self.sock = ctx.socket(zmq.PUB)
            self.sock.setsockopt(zmq.SNDHWM, 100)
            self.sock.setsockopt(zmq.LINGER, 200)
            self.sock.bind(endpoints.of("frames"))

    def send(self, index: int, image: np.ndarray) -> None:
        if self.method == "gridscout":
            self.pub.publish_frame(meta_for(index, *image.shape[:2]), image)
        elif self.method == "naive":
            h, w = image.shape[:2]
            self.sock.send_multipart([b"frames", _ENC.encode(meta_for(index, h, w)), image.tobytes()])
        else:
            self.sock.send_multipart([b"frames", pickle.dumps((index, image), protocol=pickle.HIGHEST_PROTOCOL)])

    def close(self) -> None:
        (self.pub or self.sock).close()


class Case:
    """One method over one transport: a sender here, a receiver process, and an ack channel back."""

    def __init__(self, method: str, transport: str, frames: list[np.ndarray], workdir: Path, port: int) -> None:
        self.method, self.transport, self.frames = method, transport, frames
        rundir = workdir / f"{method}-{transport}"
        rundir.mkdir(parents=True)
        self.endpoints = Endpoints(transport, ipc_dir=rundir, tcp_base_port=port)
        self.ctx = zmq.Context()
        self.acks = self.ctx.socket(zmq.PULL)
        self.acks.setsockopt(zmq.LINGER, 0)
        ack_endpoint = f"ipc://{rundir / 'ack'}"
        self.acks.bind(ack_endpoint)
        self.sender = Sender(method, self.ctx, self.endpoints)
        self.expected = [checksum(f, i) for i, f in enumerate(frames)]  # indexed by index % len(frames)
        mp = multiprocessing.get_context("spawn")
        self.proc = mp.Process(target=receiver, args=(method, self.endpoints, ack_endpoint), daemon=True)
        self.proc.start()
        self.next_index = 0
        self._connect()

    def _frame(self, index: int) -> np.ndarray:
        return self.frames[index % len(self.frames)]

    def _check(self, parts: list[bytes]) -> int:
        index = int.from_bytes(parts[0], "little", signed=True)
        got = int.from_bytes(parts[1], "little", signed=True)
        want = checksum(self._frame(index), index)
        if got != want:
            raise SystemExit(f"{self.method}/{self.transport}: frame {index} arrived corrupted ({got} != {want})")
        return index

    def _connect(self) -> None:
        """PUB/SUB joins late: send until a frame comes back, then drain and start counting."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.sender.send(self.next_index, self._frame(self.next_index))
            self.next_index += 1
            if self.acks.poll(100):
                break
        else:
            raise SystemExit(f"{self.method}/{self.transport}: receiver never answered")
        while self.acks.poll(300):
            self._check(self.acks.recv_multipart())

    def lockstep(self, n: int) -> list[float]:
        """Seconds per frame, one frame in flight."""
        times = []
        for _ in range(n):
            index = self.next_index
            self.next_index += 1
            t0 = time.perf_counter()
            self.sender.send(index, self._frame(index))
            while True:
                if not self.acks.poll(5000):
                    raise SystemExit(f"{self.method}/{self.transport}: frame {index} lost")
                if self._check(self.acks.recv_multipart()) == index:
                    break
            times.append(time.perf_counter() - t0)
        return times

    def stream(self, n: int, window: int) -> float:
        """Seconds per frame with up to `window` frames in flight."""
        first = self.next_index
        last = first + n - 1
        acked = first - 1
        t0 = time.perf_counter()
        while acked < last:
            while self.next_index <= last and self.next_index - acked <= window:
                self.sender.send(self.next_index, self._frame(self.next_index))
                self.next_index += 1
            if not self.acks.poll(5000):
                raise SystemExit(f"{self.method}/{self.transport}: frames after {acked} lost")
            acked = max(acked, self._check(self.acks.recv_multipart()))
        return (time.perf_counter() - t0) / n

    def close(self) -> None:
        tiny = np.zeros((1, 1, 3), np.uint8)
        for _ in range(20):  # the receiver exits on STOP
            self.sender.send(STOP, tiny)
            self.proc.join(0.1)
            if not self.proc.is_alive():
                break
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.sender.close()
        self.acks.close()
        self.ctx.destroy(linger=0)


def floor_round_trip(transport: str, workdir: Path, port: int, n: int) -> float:
    """Median round trip of a 1-byte payload through the same sockets: the ack channel's share."""
    case = Case("gridscout", transport, [np.zeros((1, 1, 3), np.uint8)], workdir, port)
    try:
        return statistics.median(case.lockstep(n))
    finally:
        case.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500, help="frames per case and round (default 500)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--window", type=int, default=4, help="frames in flight in the stream measurement")
    parser.add_argument("--transports", default="ipc,tcp", help="comma-separated: ipc, tcp")
    parser.add_argument("--base-port", type=int, default=0, help="first tcp port (default: a free one)")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    args = parser.parse_args(argv)
    info = machine()

    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    frames = make_frames(DISTINCT_FRAMES)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="gs-bus-") as tmp:
        workdir = Path(tmp)
        # each case (the floors, then every round's transports and methods) takes its own PORTS_PER_CASE ports
        cases = len(transports) * (1 + args.repeats * len(METHODS))
        port = args.base_port or free_port_block(PORTS_PER_CASE * (cases + 1))
        counter = 0

        def next_port() -> int:
            nonlocal counter
            counter += 1
            return port + counter * PORTS_PER_CASE

        floors = {}
        for transport in transports:
            floors[transport] = floor_round_trip(transport, workdir / f"floor-{transport}", next_port(), 200) * 1e6
        raw: dict[tuple[str, str], dict[str, list[float]]] = {}
        for r in range(args.repeats):
            for transport in transports:
                for method in METHODS:  # interleaved, so drift in machine load hits all alike
                    case_dir = workdir / f"r{r}"
                    case_dir.mkdir(exist_ok=True)
                    case = Case(method, transport, frames, case_dir, next_port())
                    try:
                        lock = statistics.median(case.lockstep(args.frames))
                        stream = case.stream(args.frames, args.window)
                    finally:
                        case.close()
                    slot = raw.setdefault((transport, method), {"lockstep": [], "stream": []})
                    slot["lockstep"].append(lock * 1e6)
                    slot["stream"].append(stream * 1e6)
        for (transport, method), v in raw.items():
            results.setdefault(transport, {})[method] = {k: statistics.median(x) for k, x in v.items()}

    mb = HEIGHT * WIDTH * 3 / 1e6
    print(
        f"frame transport: {HEIGHT}x{WIDTH}x3 uint8 ({mb:.2f} MB), PUB -> SUB in another process, "
        f"{args.frames} frames a case, median of {args.repeats} rounds; every frame checksummed by the receiver"
    )
    header = (
        f"{'transport':<9} {'method':<10} {'lock-step µs':>12} {'vs gridscout':>12} "
        f"{'stream µs/frame':>15} {'vs gridscout':>12} {'GB/s':>6}"
    )
    print(header)
    print("-" * len(header))
    for transport, by_method in results.items():
        base = by_method["gridscout"]
        for method, v in by_method.items():
            print(
                f"{transport:<9} {method:<10} {v['lockstep']:>12.0f} {v['lockstep'] / base['lockstep']:>11.2f}x "
                f"{v['stream']:>15.0f} {v['stream'] / base['stream']:>11.2f}x {mb / 1e3 / (v['stream'] / 1e6):>6.2f}"
            )
        print(
            f"{transport:<9} {'floor':<10} {floors[transport]:>12.0f}   (1-byte frame, lock-step: the ack round trip)"
        )
    print("ratios: a method's time / gridscout's (> 1.00x: gridscout is faster by that factor)")
    for transport, by_method in results.items():
        g, naive, pick = by_method["gridscout"], by_method["naive"], by_method["pickle"]
        print(
            f"  {transport}: gridscout is {naive['lockstep'] / g['lockstep']:.2f}x / "
            f"{naive['stream'] / g['stream']:.2f}x faster than naive, "
            f"{pick['lockstep'] / g['lockstep']:.2f}x / {pick['stream'] / g['stream']:.2f}x "
            "than pickle (lock-step / stream)"
        )
    print(machine_line(finish_machine(info)))
    if args.json:
        record = {"machine": info, "results": results, "floor_us": floors, "args": vars(args)}
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
