"""models.train's settings for ultralytics: an --override replaces a default (seed=1 for a sibling run used to
crash with "multiple values for keyword argument 'seed'"). Needs no ultralytics: the settings are built first."""

from __future__ import annotations

from pathlib import Path

from gridscout.models.train import build_parser, train_settings


def test_an_override_replaces_a_default_and_hours_become_time():
    args = build_parser().parse_args(["--stage", "missing_cap", "--epochs", "3", "--name", "sibling", "--hours", "0.5"])
    settings = train_settings(args, Path("d.yaml"), 320, {"seed": 1, "lr0": 0.003})
    assert settings["seed"] == 1 and settings["lr0"] == 0.003
    assert settings["time"] == 0.5 and settings["epochs"] == 3 and settings["name"] == "sibling"
    assert settings["imgsz"] == 320 and settings["data"] == "d.yaml" and settings["pretrained"] is False


def test_without_overrides_the_defaults_stand():
    settings = train_settings(build_parser().parse_args(["--stage", "insulator", "--imgsz", "384"]), Path("d"), 320, {})
    assert settings["seed"] == 0 and settings["imgsz"] == 384 and "time" not in settings
