"""Benchmarks: scripts that print figures as tables; run each with ``python -m benchmarks.NAME``."""

import sys
from pathlib import Path

# The tests' helpers that drive the real Pulumi CLI (pulumi_cli) and the real provider server
# (provider_server) serve the benchmarks too. pytest imports them as top-level modules from
# tests/; appending that directory does the same here without shadowing any installed module.
_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
