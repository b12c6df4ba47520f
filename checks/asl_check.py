"""ASL static checks of every state machine in the template (targets, substitutions, Retry/Catch on Tasks)."""

from __future__ import annotations

import sys

from checks._common import TEMPLATE
from modelwatch.asl import check_template, state_machines


def main() -> int:
    """Print one line per problem; exit 1 when there is any."""
    problems = check_template(TEMPLATE)
    for problem in problems:
        print(f"asl: {problem}", file=sys.stderr)
    if problems:
        return 1
    names = ", ".join(f"{m.logical_id} ({m.path.name})" for m in state_machines(TEMPLATE))
    print(f"asl: OK: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
