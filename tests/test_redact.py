"""The one helper that keeps credentials out of everything GridScout shows: URIs, texts holding them, configs."""

import pytest

from gridscout.hardware.secrets import MASK, redact_config, redact_uri


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("http://cam@10.0.0.5/video.mjpg", "http://***@10.0.0.5/video.mjpg"),
        (
            "http://10.0.0.5/video.cgi?user=a&password=hunter2&res=hd",
            "http://10.0.0.5/video.cgi?user=a&password=***&res=hd",
        ),
        ("https://x/api?Token=abc#frag", "https://x/api?Token=***#frag"),
        ("synthetic://demo?follow=vehicle", "synthetic://demo?follow=vehicle"),
        ("/data/footage/line 12.mp4", "/data/footage/line 12.mp4"),
        ("0", "0"),
    ],
)
def test_redact_uri(uri, shown):
    assert redact_uri(uri) == shown


def test_a_text_holding_uris_is_redacted_wherever_they_are():
    text = "could not open 'rtsp://a:b@h/1' after trying rtsp://c:d@h/2 twice"
    assert redact_uri(text) == "could not open 'rtsp://***@h/1' after trying rtsp://***@h/2 twice"


def test_a_config_loses_its_token_and_its_cameras_credentials():
    config = {
        "api": {"token": "s3cret", "port": 8470},
        "camera": {"source": "rtsp://admin:hunter2@cam/1", "fps": None},
        "list": ["http://u:p@h/", 3],
    }
    assert redact_config(config) == {
        "api": {"token": MASK, "port": 8470},
        "camera": {"source": "rtsp://***@cam/1", "fps": None},
        "list": ["http://***@h/", 3],
    }
    assert redact_config({"api": {"token": ""}}) == {"api": {"token": ""}}  # nothing to hide: left as it is
