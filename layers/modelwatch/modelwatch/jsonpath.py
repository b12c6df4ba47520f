"""The one JSONPath subset of model configs and decoders: `$`, `.name`, `['any key']`, `["any key"]`, `[0]`, `[*]`.

Quoted keys may hold any character; a backslash escapes the next character (`$['Int\\'l Plan_no']`,
`$["say \\"hi\\""]`, `$['back\\\\slash']`), so every JSON key can be written. `key_path` writes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_DOT_NAME = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)")
_INDEX = re.compile(r"\[(\d+)\]")
_STAR = "[*]"


class JsonPathError(ValueError):
    """A path is not in the supported subset, or does not match the document."""


def quote_key(key: str) -> str:
    """`['key']` for any key: quotes and backslashes escaped."""
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def key_path(key: str) -> str:
    """The path of a top-level key, whatever its characters (the decoders' by-name lookup)."""
    return "$" + quote_key(key)


@dataclass(frozen=True)
class JsonPath:
    """A compiled path: a tuple of steps, each a key (str), an index (int) or the wildcard (None)."""

    text: str
    steps: tuple[str | int | None, ...]

    @property
    def has_wildcard(self) -> bool:
        return any(step is None for step in self.steps)

    @property
    def first_key(self) -> str | None:
        """The top-level key the path starts with (None when it starts with an index or the wildcard, or is `$`)."""
        return self.steps[0] if self.steps and isinstance(self.steps[0], str) else None

    def find(self, document: Any) -> list[Any]:
        """All matches, in document order; raises JsonPathError naming the first step that does not match."""
        nodes = [document]
        for position, step in enumerate(self.steps):
            following: list[Any] = []
            for node in nodes:
                if step is None:
                    if not isinstance(node, list):
                        raise JsonPathError(f"{self._prefix(position)} is not a list")
                    following.extend(node)
                elif isinstance(step, int):
                    if not isinstance(node, list) or step >= len(node):
                        raise JsonPathError(f"{self._prefix(position + 1)} not found")
                    following.append(node[step])
                else:
                    if not isinstance(node, dict) or step not in node:
                        raise JsonPathError(f"{self._prefix(position + 1)} not found")
                    following.append(node[step])
            nodes = following
        return nodes

    def value(self, document: Any) -> Any:
        """The single value at a wildcard-free path, or the list of matches of a wildcard path."""
        found = self.find(document)
        return found if self.has_wildcard else found[0]

    def _prefix(self, count: int) -> str:
        text = "$"
        for step in self.steps[:count]:
            if step is None:
                text += _STAR
            elif isinstance(step, int):
                text += f"[{step}]"
            else:
                text += f".{step}" if _NAME.fullmatch(step) else quote_key(step)
        return text


def _quoted(text: str, position: int) -> tuple[str, int]:
    """The key of a quoted step starting at `position` (at `['` or `["`) and the position after its `]`."""
    quote = text[position + 1]
    key: list[str] = []
    index = position + 2
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 == len(text):
                break
            key.append(text[index + 1])
            index += 2
        elif char == quote:
            if text[index + 1 : index + 2] != "]":
                raise JsonPathError(f"invalid JSON path {text!r} at character {index + 1}: expected ] after the quote")
            return "".join(key), index + 2
        else:
            key.append(char)
            index += 1
    raise JsonPathError(f"invalid JSON path {text!r}: unterminated quoted key from character {position}")


@lru_cache(maxsize=256)
def compile_path(text: str) -> JsonPath:
    """Compile `$.a.b`, `$.a[*].b`, `$['a b'][0]`, `$["it's"]` into a JsonPath."""
    if not text.startswith("$"):
        raise JsonPathError(f"invalid JSON path {text!r}: must start with $")
    steps: list[str | int | None] = []
    position = 1
    while position < len(text):
        if text.startswith(("['", '["'), position):
            key, position = _quoted(text, position)
            steps.append(key)
        elif text.startswith(_STAR, position):
            steps.append(None)
            position += len(_STAR)
        elif match := _DOT_NAME.match(text, position) or _INDEX.match(text, position):
            name_or_index = match.group(1)
            steps.append(int(name_or_index) if match.re is _INDEX else name_or_index)
            position = match.end()
        else:
            raise JsonPathError(f"invalid JSON path {text!r} at character {position}")
    return JsonPath(text, tuple(steps))
