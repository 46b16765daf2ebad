"""Vehicle URIs: `sim-crawler` or `crawler:<link>[?baud=N]`, and the errors for everything else."""

import pytest
from gridscout.hardware.vehicle.uri import VEHICLE_FORMS, VehicleTarget, parse_vehicle_uri


def test_sim_crawler_is_simulated_with_the_default_baud():
    """`sim-crawler` asks for the simulator; its link is not known until it starts."""
    assert parse_vehicle_uri("sim-crawler", 115200) == VehicleTarget(simulated=True, link="", baud=115200)


def test_serial_device_uses_the_default_baud():
    """A bare device path is the link, at the configured baud."""
    assert parse_vehicle_uri("crawler:/dev/ttyUSB0", 115200) == VehicleTarget(False, "/dev/ttyUSB0", 115200)


def test_baud_in_the_uri_wins_over_the_default():
    """`?baud=57600` sets the rate and is not part of the link."""
    assert parse_vehicle_uri("crawler:/dev/ttyUSB0?baud=57600", 115200) == VehicleTarget(False, "/dev/ttyUSB0", 57600)


def test_tcp_link_is_passed_through():
    """`crawler:tcp://host:port` keeps the whole tcp:// URL as the link."""
    target = parse_vehicle_uri("crawler:tcp://10.0.0.2:5600", 115200)
    assert target == VehicleTarget(False, "tcp://10.0.0.2:5600", 115200)


def test_pyserial_url_with_baud():
    """A pyserial URL such as socket://host:port keeps its scheme; the baud option is still read."""
    target = parse_vehicle_uri("crawler:socket://host:7000?baud=9600", 115200)
    assert target == VehicleTarget(False, "socket://host:7000", 9600)


def test_default_baud_is_the_one_given():
    """Without `?baud=`, whatever default the caller passes is used (not a hard-coded one)."""
    assert parse_vehicle_uri("crawler:/dev/ttyACM1", 9600).baud == 9600
    assert parse_vehicle_uri("sim-crawler", 57600).baud == 57600


@pytest.mark.parametrize("uri", ["", "crawler:", "mavlink:/dev/x", "sim-crawler2", "/dev/ttyUSB0"])
def test_unrecognised_uris_name_the_uri_and_the_expected_forms(uri):
    """Anything that is neither form is refused with the URI quoted and both accepted forms spelt out."""
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri(uri, 115200)
    message = str(info.value)
    assert repr(uri) in message
    assert VEHICLE_FORMS in message
    assert "sim-crawler" in message and "crawler:" in message


def test_unknown_option_names_the_uri_and_the_accepted_option():
    """`?speed=3` is not an option; the message names the URI, the bad option and the `?baud=N` form."""
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri("crawler:/dev/x?speed=3", 115200)
    message = str(info.value)
    assert "'crawler:/dev/x?speed=3'" in message
    assert "speed" in message
    assert "?baud=N" in message


def test_non_integer_baud_names_the_uri_and_the_value():
    """`?baud=fast` is refused, naming the URI, the value and that an integer is expected."""
    with pytest.raises(ValueError) as info:
        parse_vehicle_uri("crawler:/dev/x?baud=fast", 115200)
    message = str(info.value)
    assert "'crawler:/dev/x?baud=fast'" in message
    assert "'fast'" in message
    assert "integer" in message


# -- known bugs (see the report): strict, so each flips to a failure once fixed and the marker goes ----------


def test_empty_link_with_options_is_refused():
    """`crawler:?baud=9600` has no port or address; it must be refused like `crawler:`."""
    with pytest.raises(ValueError, match="crawler:\\?baud=9600"):
        parse_vehicle_uri("crawler:?baud=9600", 115200)


@pytest.mark.parametrize("uri", ["crawler:/dev/x?baud=", "crawler:/dev/x?speed"])
def test_blank_option_is_a_value_error(uri):
    """`?baud=` or a bare `?speed` is a ValueError naming the URI, not a KeyError from deep inside."""
    with pytest.raises(ValueError, match="crawler:/dev/x"):
        parse_vehicle_uri(uri, 115200)


def test_baud_out_of_range_is_refused():
    """`?baud=0` would open the port at an impossible rate; it is refused like vehicle.baud = 0 in the config."""
    with pytest.raises(ValueError, match="baud"):
        parse_vehicle_uri("crawler:/dev/x?baud=0", 115200)
