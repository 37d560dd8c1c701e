"""Turning untrusted bytes (or caller arrays) into a BGR ``uint8`` image, safely.

Pillow reads the header first (format, size) so limits are enforced before any
pixels are decoded, detects truncated files, and applies EXIF orientation.

Decoding time and memory are bounded:

* pixels: ``max_image_pixels`` (default 25 Mpx: a 6000x4000 camera photo);
* progressive JPEG scans: each scan is a pass over the whole image, so a small file
  of thousands of empty scans takes minutes. The scans are counted from the markers
  first (as libjpeg reads them) and more than ``max_jpeg_scans`` are refused; and
  every JPEG of more than one scan is decoded in a child process that is killed at
  ``max_decode_seconds``, so a file the count misjudges still cannot hold a worker;
* concurrency: decodes above ``LARGE_DECODE_PIXELS`` take one of
  ``max_large_decodes`` slots per process, so parallel requests cannot multiply
  the peak memory of a large image.
"""

from likeness.imaging.decode import SUPPORTED_FORMATS, decode_base64, decode_image, load_image
from likeness.imaging.encode import encode_crop
from likeness.imaging.jpeg import count_jpeg_scans
from likeness.imaging.limits import LARGE_DECODE_PIXELS, ImageLimits, set_large_decodes
from likeness.imaging.pixels import array_to_bgr, to_uint8

__all__ = [
    "LARGE_DECODE_PIXELS",
    "SUPPORTED_FORMATS",
    "ImageLimits",
    "array_to_bgr",
    "count_jpeg_scans",
    "decode_base64",
    "decode_image",
    "encode_crop",
    "load_image",
    "set_large_decodes",
    "to_uint8",
]
