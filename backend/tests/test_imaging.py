"""Decoding untrusted bytes: formats, modes, orientation and limits."""

from __future__ import annotations

import base64
import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from likeness import errors
from likeness.imaging import (
    ImageLimits,
    count_jpeg_scans,
    decode_base64,
    decode_image,
    load_image,
)

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


# --- hostile and odd inputs (issue 9) ------------------------------------------------
def _progressive(width: int = 300, height: int = 200) -> bytes:
    rng = np.random.default_rng(0)
    pixels = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", progressive=True, quality=90)
    return out.getvalue()


def scan_bomb(extra_scans: int = 500) -> bytes:
    """A progressive JPEG whose last scan is repeated: every scan is one more pass
    over the whole image (the attack: thousands of them in a small file)."""
    data = _progressive()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * extra_scans + data[end:]


def test_jpeg_scans_are_counted_from_the_markers():
    data = _progressive()
    assert count_jpeg_scans(data) == 10  # an ordinary progressive JPEG
    comment = b"\xff\xfe" + (2 + 200).to_bytes(2, "big") + b"\xff\xda" * 100
    assert count_jpeg_scans(data[:2] + comment + data[2:]) == 10  # inside a segment: not scans
    assert count_jpeg_scans(scan_bomb(500)) == 510
    assert count_jpeg_scans(scan_bomb(500), stop_after=64) == 65


def test_scan_bomb_is_refused_before_decoding():
    with pytest.raises(errors.ImageTooComplexError) as refused:
        decode_image(scan_bomb())
    assert refused.value.code == "IMAGE_TOO_COMPLEX"
    assert decode_image(_progressive()).shape == (200, 300, 3)


def test_default_pixel_limit_fits_a_camera_photo_not_a_bomb():
    limits = ImageLimits()
    assert 6000 * 4000 <= limits.max_pixels < 6320 * 6320


def test_16bit_png_of_12bit_data_is_scaled_by_its_range(photo):
    eight = decode_image(photo.read_bytes())
    twelve = np.round(cv2.imread(str(photo)).astype(np.float32) * 4095 / 255).astype(np.uint16)
    ok, png = cv2.imencode(".png", twelve)
    decoded = decode_image(png.tobytes())
    assert np.abs(decoded.astype(int) - eight.astype(int)).max() <= 1
    gray = np.round(cv2.imread(str(photo), 0).astype(np.float32) * 4095 / 255).astype(np.uint16)
    ok, png = cv2.imencode(".png", gray)
    assert (
        np.abs(decode_image(png.tobytes())[..., 0].astype(int) - cv2.imread(str(photo), 0)).max()
        <= 1
    )


def test_arrays_of_any_numeric_type_become_bgr_uint8(photo):
    bgr = cv2.imread(str(photo))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cases = {
        "uint16 2-D": gray.astype(np.uint16) * 257,
        "uint16 12-bit": np.round(gray.astype(np.float32) * 4095 / 255).astype(np.uint16),
        "float64 0..1": gray / 255.0,
        "float32 0..255": gray.astype(np.float32),
        "(H, W, 1)": gray[..., None],
    }
    for name, array in cases.items():
        out = load_image(array)
        assert out.dtype == np.uint8 and out.shape == (250, 250, 3), name
        assert np.abs(out[..., 0].astype(int) - gray).max() <= 1, name
    assert load_image(np.ones((64, 64), bool)).max() == 255
    for bad in (np.zeros((64, 64, 2)), np.zeros((2, 64, 64, 3)), np.full((64, 64), np.nan)):
        with pytest.raises(errors.ImageLoadError):
            load_image(bad)
    with pytest.raises(errors.ImageTooManyPixelsError):
        load_image(np.zeros((6000, 6000), np.uint8))


def hidden_scans(copies: int = 300) -> bytes:
    """Scans hidden behind a stuffed zero that a naive walker would read as a
    segment length (libjpeg decodes every one of them)."""
    data = _progressive()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    scan = data[last:end]
    per = max(1, 60_000 // len(scan))
    fake = scan[:10] + b"\xff\x00" + (2 + per * len(scan)).to_bytes(2, "big")
    return data[:end] + (fake + scan * per) * (copies // per + 1) + data[end:]


def test_scan_counting_is_linear_and_sees_hidden_scans():
    import time

    data = _progressive()
    sos = data.index(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    fill = data[:header_end] + b"\x00" + b"\xff" * 2_000_000 + b"\x00" + data[header_end:]
    start = time.perf_counter()
    count_jpeg_scans(fill)
    assert time.perf_counter() - start < 5  # quadratic before: days for this size
    assert count_jpeg_scans(hidden_scans(), stop_after=64) > 64
    with pytest.raises(errors.ImageTooComplexError):
        decode_image(hidden_scans())


def _flat_progressive(side: int, extra_scans: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * extra_scans + data[end:]


def test_costly_multi_scan_jpegs_are_decoded_under_a_cpu_limit():
    """Above a scans x pixels budget, a child decodes under RLIMIT_CPU: a file that
    gets past the scan count (here: a server allowing 5,000 scans) still cannot
    hold a worker longer than the limit."""
    import time

    lenient = ImageLimits(max_jpeg_scans=5000, max_decode_seconds=0.5)
    data = _flat_progressive(2000, 3000)
    start = time.perf_counter()
    with pytest.raises(errors.ImageTooComplexError):
        decode_image(data, lenient)
    assert time.perf_counter() - start < 30
    ordinary = _progressive(2000, 2000)  # under the budget: decoded in the process
    assert decode_image(ordinary, lenient).shape == (2000, 2000, 3)
    watched = _flat_progressive(4000, 10)  # over the budget, quick: decoded in the child
    assert decode_image(watched).shape == (4000, 4000, 3)
    with pytest.raises(errors.TruncatedImageError):
        decode_image(watched[: len(watched) // 2])


def test_png_sbit_and_alpha_do_not_skew_the_colour_depth(photo):
    bgr = cv2.imread(str(photo))
    twelve = np.round(bgr.astype(np.float32) * 4095 / 255).astype(np.uint16)
    alpha = np.full(bgr.shape[:2] + (1,), 65535, np.uint16)  # opaque, full 16 bits
    ok, png = cv2.imencode(".png", np.concatenate([twelve, alpha], axis=2))
    assert np.abs(decode_image(png.tobytes()).astype(int) - bgr).max() <= 1
    # a dark 16-bit photo (largest value 20000) keeps its brightness
    dark = (bgr.astype(np.uint32) * 20000 // 255).astype(np.uint16)
    ok, png = cv2.imencode(".png", dark)
    expected = np.round(dark.astype(np.float64) * 255 / 65535)
    assert np.abs(decode_image(png.tobytes()).astype(int) - expected).max() <= 1
    # an sBIT chunk (significant bits: 12) is believed
    data = bytearray(png.tobytes())
    chunk = b"sBIT" + bytes([12, 12, 12])
    sbit = (3).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")
    data[33:33] = sbit  # right after IHDR
    assert decode_image(bytes(data)).max() > decode_image(png.tobytes()).max()


def test_header_floods_are_refused_before_pillow_parses_them(photo):
    """Pillow walks JPEG segments and PNG chunks in Python: millions of tiny ones
    cost seconds whatever the pixel count."""
    jpeg = photo.read_bytes()
    app = b"\xff\xe1\x00\x02"  # an empty APP1 segment
    with pytest.raises(errors.ImageTooComplexError):
        decode_image(jpeg[:2] + app * 5000 + jpeg[2:])
    assert decode_image(jpeg[:2] + app * 50 + jpeg[2:]).shape == (250, 250, 3)
    ok, png = cv2.imencode(".png", cv2.imread(str(photo)))
    png = png.tobytes()
    chunk = (0).to_bytes(4, "big") + b"teSt" + zlib.crc32(b"teSt").to_bytes(4, "big")
    with pytest.raises(errors.ImageTooComplexError):
        decode_image(png[:33] + chunk * 5000 + png[33:])
    tem = jpeg[:-2] + b"\xff\x01" * 2_000_000 + jpeg[-2:]  # TEM markers: skipped fast
    assert count_jpeg_scans(tem) == 1


def test_mpo_from_phones_is_decoded_as_its_first_image(photo):
    first = Image.open(photo)
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[first.rotate(90)])
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert np.abs(decode_image(data).astype(int) - decode_image(photo.read_bytes())).mean() < 2


def test_16bit_alpha_is_relative_to_its_container(photo):
    bgr16 = cv2.imread(str(photo)).astype(np.uint16) * 257
    alpha = np.full(bgr16.shape[:2] + (1,), 200, np.uint16)  # 0.3% opaque
    ok, png = cv2.imencode(".png", np.concatenate([bgr16, alpha], axis=2))
    assert decode_image(png.tobytes()).min() >= 254  # white, as any viewer shows it
