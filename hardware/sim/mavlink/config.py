"""What the MAVLink simulator simulates: one vehicle's settings, apart from the simulator so that reading the
config never loads pymavlink."""

from __future__ import annotations

from dataclasses import dataclass

#: the vehicles it simulates, and the modes each flies (ArduPilot's names)
SIM_MODES = {"drone": ("GUIDED", "BRAKE", "LOITER", "RTL", "LAND"), "rover": ("GUIDED", "HOLD", "LOITER", "RTL")}
SIM_KINDS = tuple(SIM_MODES)
#: what its GCS failsafe does (ArduCopter FS_GCS_ENABLE 1: RTL; Rover FS_ACTION 2: Hold)
FAILSAFE_ACTIONS = {"drone": "RTL", "rover": "HOLD"}


@dataclass(frozen=True, slots=True)
class MavSimConfig:
    """One simulated vehicle. These are the shipped defaults; `gridscout.edge.config` reads them."""

    vehicle: str = "drone"
    #: home (ArduPilot SITL's default, CMAC)
    home_lat_deg: float = -35.363261
    home_lon_deg: float = 149.165230
    home_alt_m: float = 584.0
    #: a drone starts armed and hovering this high above home (a rover on the ground)
    start_alt_m: float = 20.0
    start_heading_deg: float = 0.0
    start_mode: str = "GUIDED"
    start_armed: bool = True
    max_speed_mps: float = 10.0
    accel_mps2: float = 2.5
    brake_mps2: float = 6.0
    climb_mps: float = 2.5
    yaw_rate_dps: float = 90.0
    #: position moves and RTL fly this fast (WPNAV_SPEED; DO_CHANGE_SPEED sets it)
    wp_speed_mps: float = 5.0
    rtl_alt_m: float = 15.0
    land_speed_mps: float = 1.0
    setpoint_timeout_s: float = 3.0
    #: FS_GCS_ENABLE (0: off) and FS_GCS_TIMEOUT
    gcs_failsafe: bool = True
    gcs_timeout_s: float = 5.0
    #: MAV_GCS_SYSID (SYSID_MYGCS before ArduPilot 4.7): the system whose heartbeats hold the failsafe off
    gcs_system_id: int = 255
    #: a drone's FS_OPTIONS: ArduCopter's default 16 (bit 4) lets a GCS failsafe pass over a drone in a
    #: pilot-controlled mode, BRAKE and LOITER included (as the real firmware did)
    fs_options: int = 16
    system_id: int = 1
    battery_pct: float = 100.0
    gps_noise_m: float = 0.0
    seed: int = 0
    physics_hz: float = 50.0
    # Faults to rehearse against: a vehicle that ...
    refuse_modes: tuple[str, ...] = ()  # ... DENIES DO_SET_MODE to these modes
    drop_commands: int = 0  # ... misses the first N sends of each command (an answer needs a retry)
    ack: bool = True  # False: ... applies commands but never answers them
    home_set: bool = True  # False: ... has no home (RTL is refused)
    relayed: bool = False  # True: ... sits behind MAVProxy: its GCS heartbeat, a gimbal's, ACKs for its commands
    #: parameters to start with other values (name -> value), e.g. {"FS_GCS_ENABLE": 0}
    params: tuple[tuple[str, float], ...] = ()
