"""Counting the scans of a JPEG from its markers, the way libjpeg reads them."""

from __future__ import annotations

import re

# A marker: 0xFF, then any byte but a stuffed zero, a restart marker or more fill.
# No repetition in the pattern: the search is linear even on long runs of 0xFF.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7
SOS, EOI = 0xDA, 0xD9


def count_jpeg_scans(data: bytes, stop_after: int | None = None) -> int:
    """Start-of-scan segments of a JPEG. Segment lengths are honoured (bytes inside
    metadata never count); after a scan header, or wherever something else than a
    marker stands, the next marker is searched for as libjpeg does (entropy-coded
    data, stuffed zeros and garbage are skipped), so no scan libjpeg would decode
    is hidden from the count. Linear in the size of ``data``."""
    scans, pos, end = 0, 2, len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF or data[pos + 1] in _NO_LENGTH or data[pos + 1] in (0x00, 0xFF):
            found = _MARKER.search(data, pos + 1 if data[pos] == 0xFF else pos)
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == EOI:
            break
        if pos + 4 > end:
            break
        pos += 2 + max(int.from_bytes(data[pos + 2 : pos + 4], "big"), 2)
        if marker == SOS:
            scans += 1
            if stop_after is not None and scans > stop_after:
                break
            found = _MARKER.search(data, pos)  # entropy-coded data follows
            if found is None:
                break
            pos = found.start()
    return scans
