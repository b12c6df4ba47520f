"""The tiny JSONPath subset model configs use: `$`, `.name`, `['name']`, `[0]`, `[*]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\['([^']+)'\]|\[(\d+)\]|\[(\*)\]")


class JsonPathError(ValueError):
    """A path is not in the supported subset, or does not match the document."""


@dataclass(frozen=True)
class JsonPath:
    """A compiled path: a tuple of steps, each a key (str), an index (int) or the wildcard (None)."""

    text: str
    steps: tuple[str | int | None, ...]

    @property
    def has_wildcard(self) -> bool:
        return any(step is None for step in self.steps)

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
                text += "[*]"
            elif isinstance(step, int):
                text += f"[{step}]"
            else:
                text += f".{step}" if _NAME.fullmatch(step) else f"['{step}']"
        return text


@lru_cache(maxsize=256)
def compile_path(text: str) -> JsonPath:
    """Compile `$.a.b`, `$.a[*].b`, `$['a b'][0]` into a JsonPath."""
    if not text.startswith("$"):
        raise JsonPathError(f"invalid JSON path {text!r}: must start with $")
    steps: list[str | int | None] = []
    position = 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise JsonPathError(f"invalid JSON path {text!r} at character {position}")
        name, quoted, index, _star = match.groups()
        if name is not None:
            steps.append(name)
        elif quoted is not None:
            steps.append(quoted)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(None)
        position = match.end()
    return JsonPath(text, tuple(steps))
