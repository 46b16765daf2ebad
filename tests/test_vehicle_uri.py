"""Vehicle URIs: `sim-crawler`, `crawler:<link>[?baud=N]`, `sim-drone`, `sim-rover`, `mavlink:<connection>[?baud=N]`,
and the errors for everything else."""

import pytest

from gridscout.hardware.vehicle.uri import (
    VEHICLE_FORMS,
    VehicleTarget,
    parse_vehicle_uri,
    sim_link_path,
    sim_mavlink_link,
    vehicle_kind,
)


def test_sim_crawler_is_simulated_and_uses_the_crawler_driver():
    """`sim-crawler` asks for the simulator; its link is not known until its run directory is."""
    target = parse_vehicle_uri("sim-crawler")
    assert target == VehicleTarget("sim-crawler", "sim-crawler", "crawler", "", None)
    assert target.simulated


def test_the_simulator_links_its_port_at_a_stable_path(tmp_path):
    """The path a restarted simulator links its new pty to is the one the vehicle process reopens."""
    assert sim_link_path(tmp_path) == tmp_path / "sim-crawler.pty"


def test_serial_device_leaves_the_baud_to_the_config():
    target = parse_vehicle_uri("crawler:/dev/ttyUSB0")
    assert (target.kind, target.driver, target.link, target.baud, target.simulated) == (
        "crawler",
        "crawler",
        "/dev/ttyUSB0",
        None,
        False,
    )


def test_baud_in_the_uri_is_read_and_not_part_of_the_link():
    target = parse_vehicle_uri("crawler:/dev/ttyUSB0?baud=57600")
    assert (target.link, target.baud) == ("/dev/ttyUSB0", 57600)


def test_tcp_link_is_passed_through():
    """`crawler:tcp://host:port` keeps the whole tcp:// URL as the link."""
    assert parse_vehicle_uri("crawler:tcp://10.0.0.2:5600").link == "tcp://10.0.0.2:5600"


def test_pyserial_url_with_baud():
    """A pyserial URL such as socket://host:port keeps its scheme; the baud option is still read."""
    target = parse_vehicle_uri("crawler:socket://host:7000?baud=9600")
    assert (target.link, target.baud) == ("socket://host:7000", 9600)


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("sim-crawler", "sim-crawler"),
        ("crawler:/dev/x", "crawler"),
        ("mavlink:x", "mavlink"),
        ("sim-drone", "sim-drone"),
        ("sim-rover", "sim-rover"),
        ("px4:x", None),
        ("", None),
    ],
)
def test_the_kind_comes_from_the_scheme_alone(uri, kind):
    assert vehicle_kind(uri) == kind


@pytest.mark.parametrize("uri", ["", "crawler:", "mavlink:", "sim-crawler2", "sim-plane", "/dev/ttyUSB0"])
def test_unrecognised_uris_name_the_uri_and_the_expected_forms(uri):
    """Anything that is neither form is refused with the URI quoted and both accepted forms spelt out."""
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri(uri)
    message = str(info.value)
    assert repr(uri) in message
    assert VEHICLE_FORMS in message or "no serial port" in message or "no pymavlink connection string" in message


def test_unknown_option_names_the_uri_and_the_accepted_option():
    """`?speed=3` is not an option; the message names the URI, the bad option and the `?baud=N` form."""
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri("crawler:/dev/x?speed=3")
    message = str(info.value)
    assert "'crawler:/dev/x?speed=3'" in message
    assert "speed" in message
    assert "?baud=N" in message


def test_non_integer_baud_names_the_uri_and_the_value():
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri("crawler:/dev/x?baud=fast")
    message = str(info.value)
    assert "'crawler:/dev/x?baud=fast'" in message
    assert "'fast'" in message
    assert "integer" in message


def test_empty_link_with_options_is_refused():
    """`crawler:?baud=9600` has no port or address; it must be refused like `crawler:`."""
    with pytest.raises(ValueError, match="crawler:\\?baud=9600"):
        parse_vehicle_uri("crawler:?baud=9600")


@pytest.mark.parametrize("uri", ["crawler:/dev/x?baud=", "crawler:/dev/x?speed"])
def test_blank_option_is_a_value_error(uri):
    """`?baud=` or a bare `?speed` is a ValueError naming the URI, not a KeyError from deep inside."""
    with pytest.raises(ValueError, match="crawler:/dev/x"):
        parse_vehicle_uri(uri)


def test_baud_out_of_range_is_refused():
    with pytest.raises(ValueError, match="baud"):
        parse_vehicle_uri("crawler:/dev/x?baud=0")


@pytest.mark.parametrize(
    ("uri", "link", "baud", "device"),
    [
        ("mavlink:tcp:127.0.0.1:5760", "tcp:127.0.0.1:5760", None, None),
        ("mavlink:udpin:0.0.0.0:14550", "udpin:0.0.0.0:14550", None, None),
        ("mavlink:udpout:10.0.0.2:14550", "udpout:10.0.0.2:14550", None, None),
        ("mavlink:/dev/ttyACM0?baud=57600", "/dev/ttyACM0", 57600, "/dev/ttyACM0"),
    ],
)
def test_mavlink_uris_carry_a_pymavlink_connection_string(uri, link, baud, device):
    target = parse_vehicle_uri(uri)
    assert (target.kind, target.driver, target.link, target.baud) == ("mavlink", "mavlink", link, baud)
    assert target.serial_device == device and not target.simulated


@pytest.mark.parametrize("kind", ["sim-drone", "sim-rover"])
def test_the_mavlink_simulators_are_driven_by_the_mavlink_driver_over_loopback(kind):
    target = parse_vehicle_uri(kind)
    assert (target.driver, target.simulated, target.serial_device) == ("mavlink", True, None)
    assert sim_mavlink_link(5761) == "tcp:127.0.0.1:5761"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("mavlink:tcp:127.0.0.1:5760?baud=57600", "?baud= is for serial links, not tcp:"),
        ("mavlink:tcp:127.0.0.1:70000", "port 70000 is out of range"),
        ("mavlink:wss:host", "'wss:host' is not a MAVLink link"),
        ("mavlink:/dev/ttyACM0?rate=4", "unknown option(s) ['rate']"),
    ],
)
def test_bad_mavlink_uris_say_what_is_wrong(uri, says):
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri(uri)
    assert repr(uri) in str(info.value) and says in str(info.value)
