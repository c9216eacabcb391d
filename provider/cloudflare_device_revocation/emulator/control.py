"""The control surface under ``/__emulator``: what tests in another process use to steer it.

Every operation takes and returns JSON; a bad request is answered 400 ``{"error": ...}``.
Production code never calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Fault
from .ratelimit import RateLimit

if TYPE_CHECKING:
    from .server import EmulatorServer

__all__ = ["control"]


class UnknownOperationError(Exception):
    """No control operation has that method and path."""


def rate_limit_status(server: EmulatorServer) -> dict[str, Any]:
    limiter = server.limiter
    return {
        "rate_limit": limiter.limit.to_dict() if limiter else None,
        "rate_limited": server.rate_limited,
    }


def _operate(server: EmulatorServer, method: str, path: str, payload: Any) -> Any:
    """The result of one control operation."""
    if (method, path) == ("GET", "/health"):
        return {"ok": True}
    if (method, path) == ("POST", "/reset"):
        server.reset()
        return {"ok": True}
    if (method, path) == ("POST", "/seed"):
        return server.state.seed(
            payload["account_id"],
            int(payload.get("count", 0)),
            multi_user=bool(payload.get("multi_user", False)),
            userless=bool(payload.get("userless", False)),
        )
    if (method, path) == ("GET", "/state"):
        return server.state.snapshot()
    if (method, path) == ("POST", "/faults"):
        for raw in payload if isinstance(payload, list) else [payload]:
            server.faults.add(Fault.from_json(raw))
        return [f.to_dict() for f in server.faults.pending()]
    if (method, path) == ("DELETE", "/faults"):
        server.faults.clear()
        return []
    if (method, path) == ("GET", "/requests"):
        return [r.to_dict() for r in server.requests.all()]
    if (method, path) == ("DELETE", "/requests"):
        server.requests.clear()
        return []
    if (method, path) == ("POST", "/latency"):
        server.latency = float(payload.get("seconds", 0.0))
        return {"seconds": server.latency}
    if (method, path) == ("GET", "/assumptions"):
        return server.assumptions.to_dict()
    if (method, path) == ("POST", "/assumptions"):
        if not isinstance(payload, dict):
            raise TypeError("Expected a JSON object of assumption fields")
        server.assumptions = server.assumptions.replace(payload)
        return server.assumptions.to_dict()
    if (method, path) == ("GET", "/rate-limit"):
        return rate_limit_status(server)
    if (method, path) == ("DELETE", "/rate-limit"):
        server.set_rate_limit(None)
        return rate_limit_status(server)
    if (method, path) == ("POST", "/rate-limit"):
        if payload is not None and not isinstance(payload, dict):
            raise TypeError("Expected null or a JSON object with quota, window, block")
        server.set_rate_limit(RateLimit.from_json(payload) if payload is not None else None)
        return rate_limit_status(server)
    raise UnknownOperationError(f"no control operation {method} {path}")


def control(server: EmulatorServer, method: str, path: str, payload: Any) -> tuple[int, Any]:
    """Run one control operation: (HTTP status, JSON answer)."""
    try:
        return 200, _operate(server, method, path, payload)
    except UnknownOperationError as exc:
        return 404, {"error": str(exc)}
    except KeyError as exc:
        return 400, {"error": f"missing field {exc}"}
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
