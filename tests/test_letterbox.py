"""Letterbox and its inverse against hand-computed cases."""

import numpy as np
import pytest

from gridscout.perception.letterbox import PAD_VALUE, letterbox, unletterbox

PAD = np.float32(PAD_VALUE / 255)


def test_landscape_640x480_into_320_pads_top_and_bottom():
    image = np.full((480, 640, 3), 204, np.uint8)
    tensor, info = letterbox(image, (320, 320))
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    # scale 0.5 -> 320x240 centred: 40 px grey above and below
    assert info.scale == 0.5 and (info.pad_x, info.pad_y) == (0, 40)
    assert (tensor[0, :, :40] == PAD).all() and (tensor[0, :, 280:] == PAD).all()
    np.testing.assert_allclose(tensor[0, :, 40:280], 0.8, rtol=1e-6)


def test_portrait_odd_padding_matches_ultralytics_rounding():
    tensor, info = letterbox(np.zeros((100, 51, 3), np.uint8), (64, 64))
    # scale 0.64 -> 33x64; dw = 15.5 -> left round(15.4) = 15, right 16
    assert info.scale == pytest.approx(0.64)
    assert (info.pad_x, info.pad_y) == (15, 0)
    assert (tensor[0, :, :, :15] == PAD).all() and (tensor[0, :, :, 15 + 33 :] == PAD).all()
    assert (tensor[0, :, :, 15 : 15 + 33] == 0).all()


def test_channels_become_rgb_in_unit_range():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    tensor, _ = letterbox(image, (2, 3))
    assert tensor[0, 2].min() == 1.0 and tensor[0, 0].max() == 0.0 and tensor[0, 1].max() == 0.0


def test_rect_mode_pads_only_to_the_stride():
    # 640x480 -> 320x240, height padded 240 -> 256 (8 px each side), width untouched
    tensor, info = letterbox(np.zeros((480, 640, 3), np.uint8), (320, 320), stride=32)
    assert tensor.shape == (1, 3, 256, 320) and (info.pad_x, info.pad_y) == (0, 8)
    # an elongated 400x100 crop -> 320x80, padded to 320x96
    tensor, info = letterbox(np.zeros((100, 400, 3), np.uint8), (320, 320), stride=32)
    assert tensor.shape == (1, 3, 96, 320) and info.scale == 0.8 and info.pad_y == 8


def test_unletterbox_inverts_and_clips():
    _, info = letterbox(np.zeros((480, 640, 3), np.uint8), (320, 320))
    boxes = np.array([[10, 50, 110, 90], [-20, 0, 400, 400]], np.float32)
    back = unletterbox(boxes, info)
    np.testing.assert_allclose(back[0], [20, 20, 220, 100])
    np.testing.assert_allclose(back[1], [0, 0, 640, 480])  # clipped to the source
