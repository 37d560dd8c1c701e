"""Walking a JPEG's markers the way libjpeg reads them: how many scans (each a pass
over the whole image) and how many segments stand before the first scan (each one
parsed by Pillow in Python), both counted before anything is decoded."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A marker: 0xFF, then any byte but a stuffed zero, a restart marker, TEM or more
# fill. No repetition in the pattern: the search is linear even on long 0xFF runs.
_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")
_NO_LENGTH = frozenset({0x00, 0x01, 0xFF, *range(0xD0, 0xD8)})  # not segment starts
SOS, EOI = 0xDA, 0xD9


@dataclass(frozen=True)
class JpegShape:
    scans: int  # start-of-scan segments (up to the first that passes the limit)
    header_segments: int  # segments before the first scan


def inspect_jpeg(
    data: bytes, max_scans: int | None = None, max_segments: int | None = None
) -> JpegShape:
    """Count scans and header segments. Segment lengths are honoured (bytes inside
    metadata never count); after a scan header, or wherever something else than a
    segment starts, the next marker is searched for as libjpeg does (entropy-coded
    data, stuffed zeros, restart and TEM markers and garbage are skipped), so no scan
    libjpeg would decode is hidden. Stops as soon as a limit is passed."""
    scans = segments = 0
    pos, end = 2, len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF or data[pos + 1] in _NO_LENGTH:
            found = _MARKER.search(data, pos + 1 if data[pos] == 0xFF else pos)
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == EOI or pos + 4 > end:
            break
        pos += 2 + max(int.from_bytes(data[pos + 2 : pos + 4], "big"), 2)
        if marker != SOS:
            if not scans:
                segments += 1
                if max_segments is not None and segments > max_segments:
                    break
            continue
        scans += 1
        if max_scans is not None and scans > max_scans:
            break
        found = _MARKER.search(data, pos)  # entropy-coded data follows
        if found is None:
            break
        pos = found.start()
    return JpegShape(scans, segments)


def count_jpeg_scans(data: bytes, stop_after: int | None = None) -> int:
    """Start-of-scan segments of a JPEG (``inspect_jpeg``)."""
    return inspect_jpeg(data, max_scans=stop_after).scans
