"""Decoding untrusted bytes: formats, modes, orientation and limits."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from likeness import errors
from likeness.imaging import ImageLimits, decode_base64, decode_image, load_image

import imagefactory as make

PHOTO = ("Abel_Pacheco", 1)


@pytest.fixture
def photo(lfw):
    return lfw(*PHOTO)


def test_jpeg_decodes_to_bgr_uint8(photo):
    image = decode_image(make.jpeg(photo))
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("encode", [make.png_gray, make.png_rgba, make.png_16bit])
def test_gray_rgba_and_16bit_png_become_3_channel_8bit(photo, encode):
    reference = decode_image(make.jpeg(photo)).astype(int)
    image = decode_image(encode(photo))
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8
    # Same picture, not a saturated or black one (16-bit must be scaled, not clipped).
    assert abs(image.mean() - reference.mean()) < 12


def test_exif_orientation_is_applied(photo):
    data, (width, height) = make.exif_rotated(photo)
    image = decode_image(data)
    assert image.shape[:2] == (height, width)
    upright = decode_image(make.jpeg(photo))[:height, :width].astype(int)
    assert np.abs(image.astype(int) - upright).mean() < 6


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", errors.EmptyImageError),
        (b"this is not an image at all", errors.ImageDecodeError),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, errors.ImageDecodeError),
    ],
)
def test_unreadable_bytes(data, error):
    with pytest.raises(error):
        decode_image(data)


def test_truncated_jpeg_is_rejected(photo):
    with pytest.raises(errors.TruncatedImageError) as caught:
        decode_image(make.truncated(photo))
    assert caught.value.code == "TRUNCATED_IMAGE"


@pytest.mark.parametrize("encode", [make.gif, make.tiff])
def test_unsupported_formats(photo, encode):
    with pytest.raises(errors.UnsupportedFormatError):
        decode_image(encode(photo))


def test_byte_limit(photo):
    with pytest.raises(errors.ImageTooLargeError):
        decode_image(make.jpeg(photo), ImageLimits(max_bytes=1000))


@pytest.mark.parametrize("data", [make.pixel_bomb(), make.forged_png_header()])
def test_pixel_limit_before_decoding(data):
    with pytest.raises(errors.ImageTooManyPixelsError):
        decode_image(data, ImageLimits(max_pixels=40_000_000))


def test_tiny_image():
    with pytest.raises(errors.ImageTooSmallError):
        decode_image(make.solid(1, 1))


def test_base64_with_and_without_data_url(photo):
    raw = make.jpeg(photo)
    text = base64.b64encode(raw).decode()
    assert decode_base64(text) == raw
    assert decode_base64("data:image/jpeg;base64," + text) == raw
    with pytest.raises(errors.InvalidBase64Error):
        decode_base64("not*base64!")


def test_load_image_sources(photo):
    from_path = load_image(photo)
    assert np.array_equal(load_image(photo.read_bytes()), from_path)
    assert load_image(from_path) is from_path
    assert load_image(from_path[:, :, 0]).shape == (250, 250, 3)
    with pytest.raises(errors.ImageLoadError):
        load_image(photo.parent / "missing.jpg")
