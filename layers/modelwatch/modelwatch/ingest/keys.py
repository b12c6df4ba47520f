"""Reading what an object key says: capture keys `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>` and the
hour folder of ground-truth keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_HOUR_FOLDERS = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


@dataclass(frozen=True)
class CaptureKey:
    """The parts of a SageMaker data-capture object key."""

    prefix: str
    endpoint: str
    variant: str
    hour: datetime
    file: str


def parse_capture_key(key: str, prefix: str = "") -> CaptureKey | None:
    """Parse a capture key; None when it does not have the SageMaker layout (or is outside `prefix`)."""
    if prefix and not key.startswith(prefix):
        return None
    parts = key.split("/")
    if len(parts) < 7:
        return None
    endpoint, variant, yyyy, mm, dd, hh, file = parts[-7:]
    if not (endpoint and variant and file):
        return None
    hour = _hour(yyyy, mm, dd, hh)
    if hour is None:
        return None
    return CaptureKey("/".join(parts[:-7]), endpoint, variant, hour, file)


def folder_hour(key: str) -> datetime | None:
    """The last `yyyy/mm/dd/hh/` folder time in a key (ground truth is dated by collection), or None."""
    matches = list(_HOUR_FOLDERS.finditer(key))
    for match in reversed(matches):
        hour = _hour(*match.groups())
        if hour is not None:
            return hour
    return None


def _hour(yyyy: str, mm: str, dd: str, hh: str) -> datetime | None:
    if not all(p.isdigit() for p in (yyyy, mm, dd, hh)) or (len(yyyy), len(mm), len(dd), len(hh)) != (4, 2, 2, 2):
        return None
    try:
        return datetime(int(yyyy), int(mm), int(dd), int(hh), tzinfo=UTC)
    except ValueError:
        return None
