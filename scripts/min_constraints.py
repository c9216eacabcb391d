"""Print pip constraints pinning each of pyproject's [project].dependencies to its declared floor.

Usage: ``python3 scripts/min_constraints.py [pyproject.toml] > constraints.txt``, then
``pip install -c constraints.txt -e .``: the package is tested with the oldest versions
its metadata admits (``make test-min``). Every direct dependency must declare a floor with
``>=``, ``~=`` or ``==``; one without is an error, since nothing could prove it.
Environment markers are kept, so a dependency only some Pythons need stays conditional.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# PEP 508, the subset pyproject dependencies use here: name, extras, specifiers, marker.
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<specifiers>[^;]*?)\s*(?:;\s*(?P<marker>.+?))?\s*$"
)
_FLOOR = re.compile(r"^(?:>=|~=|==)\s*(?P<version>[0-9][A-Za-z0-9.+!-]*)$")


def floor_pin(requirement: str) -> str:
    """``name==floor`` (with the marker, if any) for one PEP 508 requirement string."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"cannot parse the dependency {requirement!r}")
    floors = [
        found.group("version")
        for spec in match.group("specifiers").split(",")
        if (found := _FLOOR.match(spec.strip()))
    ]
    if len(floors) != 1:
        raise ValueError(
            f"the dependency {requirement!r} must declare exactly one floor "
            "(>=, ~= or ==) for a minimum-versions run to pin"
        )
    pin = f"{match.group('name')}=={floors[0]}"
    marker = match.group("marker")
    return f"{pin}; {marker}" if marker else pin


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parent.parent / "pyproject.toml"
    path = Path(argv[1]) if len(argv) > 1 else default
    with path.open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    try:
        pins = [floor_pin(requirement) for requirement in dependencies]
    except ValueError as exc:
        print(f"min_constraints: {path}: {exc}", file=sys.stderr)
        return 1
    print(f"# The declared floor of every direct dependency in {path.name}.")
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
