"""ArduPilot's own SITL (`../shared/sitl`) as the vehicle of a real `gridscout run`.

    python -m sim_tests.sitl --kind copter --workdir /tmp/flight           # one flight; flight.json in workdir
    python -m sim_tests.sitl --kind copter --rehearse-failsafe --workdir ... # docs/flying.md's failsafe steps

One flight, as docs/flying.md has a crew fly it: start the firmware in its own folder and instance number,
wait for its EKF, switch to GUIDED, arm and (a copter) take off from a separate ground-station link (system
250 on SERIAL0, which stays open as an observer), `gridscout mission here` on SERIAL1, then `gridscout run
--vehicle mavlink:...` along that mission on the bundled footage. The firmware runs ten times faster than
real time until the vehicle is ready (its EKF needs about 45 s of simulated time), then at real time
(`SIM_SPEEDUP` 1) for the run. The result, `flight.json` in the work folder, holds both commands' exit codes
and output and what the autopilot itself reported on the observer link.

`isolated()` wraps the command in a private network namespace where the machine allows it (SITL listens on
every interface), so tests talk to it on 127.0.0.1 only; `missing()` says why a flight cannot run here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pymavlink import mavutil

#: where the firmware builds and their default parameters are (GRIDSCOUT_SITL_DIR overrides)
SITL_DIR = Path(os.environ.get("GRIDSCOUT_SITL_DIR", Path(__file__).resolve().parents[2] / "shared" / "sitl"))
#: home: a point in Norway 300 m above sea level (a rover once took that for its altitude above home)
HOME = (59.1245, 11.3875, 300.0, 0.0)
#: the firmware's speed-up while it gets ready, and during the run
READY_SPEEDUP, RUN_SPEEDUP = 10, 1
#: system id of the observer link (not 255, GridScout's: its heartbeats must not stand in for GridScout's)
OBSERVER_SYSID = 250


@dataclass(frozen=True)
class Kind:
    binary: str
    model: str
    defaults: str
    takeoff_m: float | None  # a copter takes off to this before the run; a rover drives from the ground


KINDS = {
    "copter": Kind("arducopter", "+", "copter.parm", 20.0),
    "rover": Kind("ardurover", "rover", "rover.parm", None),
}


def missing(kind: str) -> str | None:
    """Why a flight of `kind` cannot run on this machine (None: it can)."""
    binary = SITL_DIR / KINDS[kind].binary
    if not binary.is_file():
        return f"no ArduPilot SITL build at {binary} (set GRIDSCOUT_SITL_DIR)"
    if not os.access(binary, os.X_OK):
        return f"{binary} is not executable"
    return None


def isolated(command: list[str]) -> list[str]:
    """`command` in a private network namespace with only loopback up, where `unshare -n` works here."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    return command


def ports(instance: int) -> tuple[int, int]:
    """SERIAL0 (the observer's, which SITL waits for) and SERIAL1 (GridScout's) of instance `instance`."""
    return 5760 + 10 * instance, 5762 + 10 * instance


class Observer:
    """The ground station's link: prepares the vehicle, then records what the autopilot reports."""

    def __init__(self, port: int, deadline_s: float = 30.0, *, gcs_sysid: int | None = None) -> None:
        """`gcs_sysid`: speak as this ground station, heartbeat at 1 Hz of simulated time (as MAVProxy does),
        so the vehicle's GCS failsafe counts it; None: a silent observer as OBSERVER_SYSID."""
        until = time.monotonic() + deadline_s
        while True:
            try:
                self.link = mavutil.mavlink_connection(
                    f"tcp:127.0.0.1:{port}", source_system=gcs_sysid or OBSERVER_SYSID, autoreconnect=False
                )
                break
            except OSError:
                if time.monotonic() > until:
                    raise
                time.sleep(0.2)
        if self.link.wait_heartbeat(timeout=deadline_s) is None:
            raise TimeoutError(f"no heartbeat from SITL on port {port} in {deadline_s:g} s")
        self.link.mav.request_data_stream_send(
            self.link.target_system, self.link.target_component, mavutil.mavlink.MAV_DATA_STREAM_ALL, 10, 1
        )
        self.samples: list[dict] = []
        self.texts: list[str] = []
        self.params: dict[str, float] = {}  # PARAM_VALUEs seen while recording
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if gcs_sysid is not None:
            threading.Thread(target=self._heartbeat, daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(1.0 / READY_SPEEDUP):  # 1 Hz of the firmware's time, at its fastest
            with contextlib.suppress(OSError):
                self.link.mav.heartbeat_send(
                    mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0
                )

    def wait_text(self, needle: str, timeout_s: float) -> None:
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            msg = self.link.recv_match(type="STATUSTEXT", blocking=True, timeout=1)
            if msg is not None:
                self.texts.append(msg.text)
                if needle in msg.text:
                    return
        raise TimeoutError(f"SITL never said {needle!r} in {timeout_s:g} s (said: {self.texts[-5:]})")

    def command(self, command: int, *params: float, timeout_s: float = 3.0) -> int | None:
        """Send COMMAND_LONG; the result of its COMMAND_ACK (None: none came)."""
        padded = [*params, *[0.0] * (7 - len(params))]
        self.link.mav.command_long_send(self.link.target_system, self.link.target_component, command, 0, *padded)
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            ack = self.link.recv_match(type="COMMAND_ACK", blocking=True, timeout=0.5)
            if ack is not None and ack.command == command:
                return ack.result
        return None

    def set_param(self, name: str, value: float, timeout_s: float = 5.0) -> None:
        self.link.mav.param_set_send(
            self.link.target_system, self.link.target_component, name.encode(), value,
            mavutil.mavlink.MAV_PARAM_TYPE_REAL32,
        )  # fmt: skip
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            if self._thread is not None:  # recording: that thread reads the link and keeps each PARAM_VALUE
                confirmed = self.params.get(name)
                time.sleep(0.1)
            else:
                msg = self.link.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.5)
                confirmed = msg.param_value if msg is not None and msg.param_id == name else None
            if confirmed is not None and abs(confirmed - value) < 1e-3:
                return
        raise TimeoutError(f"SITL did not confirm {name} = {value:g}")

    def guided_and_armed(self, timeout_s: float = 60.0) -> float:
        """GUIDED, then arm, retrying while the pre-arm checks still fail; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            self.link.set_mode("GUIDED")
            if self.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1) == 0:
                return time.monotonic() - started
            time.sleep(1.0)
        raise TimeoutError(f"SITL would not arm in GUIDED within {timeout_s:g} s (said: {self.texts[-5:]})")

    def take_off(self, altitude_m: float, timeout_s: float = 60.0) -> None:
        result = self.command(mavutil.mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, altitude_m)
        if result != 0:
            raise RuntimeError(f"SITL refused NAV_TAKEOFF (result {result})")
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            msg = self.link.recv_match(type=["GLOBAL_POSITION_INT", "STATUSTEXT"], blocking=True, timeout=1)
            if msg is not None and msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
            elif msg is not None and msg.relative_alt / 1000.0 >= altitude_m - 1.0:
                return
        raise TimeoutError(f"SITL did not climb to {altitude_m:g} m within {timeout_s:g} s (said: {self.texts[-5:]})")

    def record(self) -> None:
        """From now on, keep what the autopilot reports (in the background, until `stop`)."""
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def _record(self) -> None:
        mode = None
        while not self._stop.is_set():
            wanted = ["HEARTBEAT", "GLOBAL_POSITION_INT", "STATUSTEXT", "PARAM_VALUE"]
            msg = self.link.recv_match(type=wanted, blocking=True, timeout=0.5)
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "HEARTBEAT" and msg.get_srcComponent() == 1:
                mode = self.link.flightmode
            elif kind == "STATUSTEXT":
                self.texts.append(msg.text)
            elif kind == "PARAM_VALUE":
                self.params[msg.param_id] = msg.param_value
            elif kind == "GLOBAL_POSITION_INT":
                self.samples.append({
                    "t_mono_s": time.monotonic(), "mode": mode, "lat": msg.lat / 1e7, "lon": msg.lon / 1e7,
                    "relative_alt_m": msg.relative_alt / 1000.0,
                    "ground_speed_mps": (msg.vx**2 + msg.vy**2) ** 0.5 / 100.0,
                })  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.link.close()


def _gridscout(*args: str, cwd: Path, timeout_s: float) -> dict:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gridscout.edge.cli", *args], capture_output=True, text=True, cwd=cwd,
            timeout=timeout_s,
        )  # fmt: skip
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, str(e.stdout or ""), f"timed out after {timeout_s:g} s"
    return {"rc": rc, "stdout": out, "stderr": err, "seconds": round(time.monotonic() - started, 1)}


#: docs/flying.md's failsafe parameters, set before arming in a failsafe rehearsal
FAILSAFE_PARAMS = {"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 5, "FS_OPTIONS": 0}
#: the rehearsal's ground station speaks as MAVProxy does, as system 255 (the GCS failsafe counts it until
#: MAV_GCS_SYSID is changed; without it ArduCopter 4.7 failed safe 5 s after arming)
MAVPROXY_SYSID = 255
#: the system id the rehearsal gives GridScout, and then the autopilot's MAV_GCS_SYSID
REHEARSAL_SYSID = 254


def fly(kind: str, workdir: Path, instance: int = 0, *, rehearse_failsafe: bool = False,
        run_timeout_s: float = 300.0) -> dict:  # fmt: skip
    """One flight (see the module's doc); returns what `flight.json` holds. `rehearse_failsafe`: the steps
    of docs/flying.md's failsafe rehearsal instead of a whole run (GridScout as system 254, MAV_GCS_SYSID set
    to 254 once it flies, then GridScout killed with SIGKILL mid-line)."""
    spec = KINDS[kind]
    observer_port, gridscout_port = ports(instance)
    vehicle = f"mavlink:tcp:127.0.0.1:{gridscout_port}"
    home = ",".join(f"{v:g}" for v in HOME)
    firmware = subprocess.Popen(
        [str(SITL_DIR / spec.binary), "--model", spec.model, "--speedup", str(READY_SPEEDUP),
         "--defaults", str(SITL_DIR / spec.defaults), "-I", str(instance), "--home", home],
        cwd=workdir, stdout=(workdir / "sitl.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    result: dict = {"kind": kind, "vehicle": vehicle}
    observer = None
    try:
        started = time.monotonic()
        observer = Observer(observer_port, gcs_sysid=MAVPROXY_SYSID if rehearse_failsafe else None)
        observer.wait_text("is using GPS", timeout_s=60)
        if rehearse_failsafe:
            for name, value in FAILSAFE_PARAMS.items():
                observer.set_param(name, value)
        observer.guided_and_armed()
        if spec.takeoff_m is not None:
            observer.take_off(spec.takeoff_m)
        observer.set_param("SIM_SPEEDUP", RUN_SPEEDUP)
        result["ready_s"] = round(time.monotonic() - started, 1)
        observer.record()
        mission = workdir / "sitl.mission.geojson"
        result["here"] = _gridscout("mission", "here", "--vehicle", vehicle, "-o", str(mission), cwd=workdir,
                                    timeout_s=60)  # fmt: skip
        if result["here"]["rc"] != 0:
            return result
        run = ["run", "--vehicle", vehicle, "--mission", str(mission), "--no-api", "--data", str(workdir / "data"),
               "--summary-json", str(workdir / "summary.json")]  # fmt: skip
        if rehearse_failsafe:
            result["failsafe"] = _rehearse_failsafe(observer, run, vehicle, workdir)
        else:
            result["run"] = _gridscout(*run, cwd=workdir, timeout_s=run_timeout_s)
    except (TimeoutError, RuntimeError, OSError) as e:
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        if observer is not None:
            observer.stop()
            result["observed"] = observer.samples
            result["texts"] = observer.texts
        result["firmware_alive"] = firmware.poll() is None
        firmware.kill()
        firmware.wait()
    return result


def _rehearse_failsafe(observer: Observer, run: list[str], vehicle: str, workdir: Path) -> dict:
    """docs/flying.md's steps 2-4: the run as system 254, MAV_GCS_SYSID 254 once it flies, SIGKILL; returns
    when GridScout was killed and what the autopilot did after (monotonic seconds)."""
    default = _gridscout("config", "--default", "--vehicle", vehicle, cwd=workdir, timeout_s=60)
    if default["rc"] != 0 or "system_id = 255" not in default["stdout"]:
        raise RuntimeError(f"gridscout config --default gave no system_id = 255: {default['stderr'][-500:]}")
    config = workdir / "sitl.toml"
    config.write_text(default["stdout"].replace("system_id = 255", f"system_id = {REHEARSAL_SYSID}", 1))
    gridscout = subprocess.Popen(
        [sys.executable, "-m", "gridscout.edge.cli", *run, "--config", str(config)], cwd=workdir,
        stdout=(workdir / "run.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        until = time.monotonic() + 90
        while not any(s["ground_speed_mps"] > 1.0 for s in observer.samples[-5:]):
            if gridscout.poll() is not None or time.monotonic() > until:
                raise RuntimeError(f"the run never flew the drone (exit {gridscout.poll()}; see run.log)")
            time.sleep(0.2)
        observer.set_param("MAV_GCS_SYSID", REHEARSAL_SYSID)
        time.sleep(2.0)  # flying on, its heartbeats now the ground station's
        killed = time.monotonic()
        os.killpg(gridscout.pid, signal.SIGKILL)
    finally:
        if gridscout.poll() is None:
            os.killpg(gridscout.pid, signal.SIGKILL)
        gridscout.wait()
    until = killed + 30.0
    while time.monotonic() < until and not any(s["mode"] == "RTL" for s in observer.samples[-5:]):
        time.sleep(0.2)
    time.sleep(1.0)
    modes: list[tuple[str, float]] = []  # each mode the autopilot reported after the kill, when first
    for sample in observer.samples:
        if sample["t_mono_s"] >= killed and sample["mode"] and (not modes or modes[-1][0] != sample["mode"]):
            modes.append((sample["mode"], round(sample["t_mono_s"] - killed, 2)))
    return {"killed_mono_s": killed, "modes_after": modes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(KINDS), default="copter")
    parser.add_argument("--workdir", type=Path, required=True, help="the flight's own folder (eeprom, logs, data)")
    parser.add_argument("--instance", type=int, default=0, help="SITL instance: ports 5760 + 10 * N")
    parser.add_argument(
        "--rehearse-failsafe", action="store_true", help="docs/flying.md's GCS failsafe rehearsal, not a whole run"
    )
    parser.add_argument("--run-timeout", type=float, default=300.0, help="seconds the run may take")
    args = parser.parse_args(argv)
    if reason := missing(args.kind):
        parser.exit(2, f"sitl: {reason}\n")
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = fly(args.kind, args.workdir, args.instance, rehearse_failsafe=args.rehearse_failsafe,
                 run_timeout_s=args.run_timeout)  # fmt: skip
    (args.workdir / "flight.json").write_text(json.dumps(result, indent=1))
    if "error" in result:
        print(f"sitl: {args.kind}: {result['error']}")
        return 1
    if "failsafe" in result:
        print(f"sitl: {args.kind}: ready in {result['ready_s']} s; after SIGKILL: {result['failsafe']['modes_after']}")
        return 0
    run = result.get("run", result.get("here", {}))
    print(f"sitl: {args.kind}: ready in {result['ready_s']} s; exit {run.get('rc')} in {run.get('seconds')} s")
    return 0 if run.get("rc") == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
