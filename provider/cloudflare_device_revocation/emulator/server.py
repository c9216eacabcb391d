"""The emulator's HTTP side: routes, thin handlers, Cloudflare's envelope, auth and faults.

Routes live under ``/client/v4`` like Cloudflare's; a control surface for tests and demos
lives under ``/__emulator`` (unauthenticated: the server binds loopback only; control.py).
Each API request meets, in order: an injected fault, the URI length limit, the rate limit,
then its route.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .assumptions import MAX_REQUEST_LINE, Assumptions
from .control import control
from .faults import Fault, FaultBook, RequestLog, RequestRecord, sleep_bounded
from .ratelimit import RateLimit, RateLimiter
from .state import EmulatorState

__all__ = ["API_PREFIX", "EmulatedAPIError", "EmulatorServer"]

API_PREFIX = "/client/v4"
CONTROL_PREFIX = "/__emulator"
# The schema's limit on the deprecated revoke body (the registrations one is an assumption).
MAX_IDS_PER_REQUEST = 200
MAX_ID_LENGTH = 36
ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")

# Codes the emulator chooses where Cloudflare documents none (see the package docstring).
CODE_INVALID_REQUEST = 1001
CODE_NOT_FOUND = 1002
CODE_MULTI_USER = 1003
CODE_URI_TOO_LONG = 1004
# What users report Cloudflare sends with a 429; its docs show no body.
CODE_RATE_LIMITED = 971
RATE_LIMITED_MESSAGE = "Please wait and consider throttling your request speed"


class EmulatedAPIError(Exception):
    """An error answer: HTTP status plus one Cloudflare error entry."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def envelope(result: Any, result_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return body


def failure(code: int, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }


@dataclass
class Request:
    """What a handler sees: the parsed request and the caller's access level."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_body: bytes
    params: dict[str, str]
    access: str

    def json(self) -> Any:
        try:
            return json.loads(self.raw_body)
        except ValueError:
            raise EmulatedAPIError(
                400, CODE_INVALID_REQUEST, "Malformed JSON in request body"
            ) from None

    def one(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


Handler = Callable[["EmulatorServer", Request], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    write: bool
    token_only: bool
    deprecated: bool


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "offset":
            raise ValueError(text)
        return int(value)
    except ValueError:
        raise EmulatedAPIError(400, CODE_INVALID_REQUEST, "Invalid cursor") from None


def _ids(values: list[str], where: str, limit: int | None) -> list[str]:
    if not values:
        raise EmulatedAPIError(
            400, CODE_INVALID_REQUEST, f"{where}: at least one registration ID is required"
        )
    if limit is not None and len(values) > limit:
        raise EmulatedAPIError(
            400,
            CODE_INVALID_REQUEST,
            f"{where}: at most {limit} registration IDs per request, got {len(values)}",
        )
    for value in values:
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise EmulatedAPIError(
                400, CODE_INVALID_REQUEST, f"{where}: invalid registration ID {value!r}"
            )
    return values


# -- handlers: one per API operation ------------------------------------------------


def _body_ids(req: Request, where: str) -> list[str]:
    """IDs from a bare JSON array body (the deprecated operations)."""
    body = req.json()
    if not isinstance(body, list):
        raise EmulatedAPIError(
            400, CODE_INVALID_REQUEST, "Request body must be a JSON array of registration IDs"
        )
    return _ids(body, where, MAX_IDS_PER_REQUEST)


def _query_ids(server: EmulatorServer, req: Request, where: str) -> list[str]:
    """IDs from repeated ``?id=`` parameters; these operations take no body."""
    if req.raw_body.strip():
        raise EmulatedAPIError(
            400,
            CODE_INVALID_REQUEST,
            "This operation takes registration IDs as ?id= query parameters, not a body",
        )
    return _ids(req.query.get("id", []), where, server.assumptions.registrations_max_ids)


def _set_revoked(
    server: EmulatorServer, req: Request, ids: list[str], revoked: bool, where: str
) -> None:
    """Apply a revoke or unrevoke; unknown IDs follow the ``unknown_ids`` assumption."""
    refuse = server.assumptions.unknown_ids == "refuse"
    unknown = server.state.set_revoked(
        req.params["account_id"],
        ids,
        revoked,
        all_or_nothing=refuse,
        listing_lag=server.assumptions.revocation_listed_after,
    )
    if unknown and refuse:
        raise EmulatedAPIError(
            400,
            CODE_INVALID_REQUEST,
            f"{where}: unknown registration ID(s): {', '.join(unknown)}; nothing was changed",
        )


def devices_revoke(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    _set_revoked(server, req, _body_ids(req, "revoke devices"), True, "revoke devices")
    return 200, envelope(None)


def devices_unrevoke(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    _set_revoked(server, req, _body_ids(req, "unrevoke devices"), False, "unrevoke devices")
    return 200, envelope(None)


def registrations_revoke(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    where = "revoke registrations"
    _set_revoked(server, req, _query_ids(server, req, where), True, where)
    return 200, envelope({})


def registrations_unrevoke(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    where = "unrevoke registrations"
    _set_revoked(server, req, _query_ids(server, req, where), False, where)
    return 200, envelope({})


def _choice(req: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = req.one(name, default) or default
    if value not in allowed:
        raise EmulatedAPIError(
            400, CODE_INVALID_REQUEST, f"Invalid {name} {value!r}; expected one of {list(allowed)}"
        )
    return value


def _per_page(req: Request, assume: Assumptions) -> int:
    """The page size asked for, refused or clamped above the maximum as assumed."""
    text = req.one("per_page") or str(assume.default_per_page)
    if (
        not text.isdigit()
        or int(text) < 1
        or (int(text) > assume.max_per_page and assume.per_page_over_max == "refuse")
    ):
        raise EmulatedAPIError(
            400,
            CODE_INVALID_REQUEST,
            f"per_page must be an integer from 1 to {assume.max_per_page}",
        )
    return min(int(text), assume.max_per_page)


def list_registrations(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    assume = server.assumptions
    status = _choice(req, "status", ("active", "all", "revoked"), "active")
    sort_by = _choice(
        req, "sort_by", ("id", "user.name", "user.email", "last_seen_at", "created_at"), "id"
    )
    order = _choice(req, "sort_order", ("asc", "desc"), "asc")
    per_page = _per_page(req, assume)
    cursor = req.one("cursor")
    offset = _offset(cursor) if cursor else 0
    matches = server.state.query(
        req.params["account_id"],
        ids=req.query.get("id", []),
        user_ids=req.query.get("user.id", []),
        device_id=req.one("device.id"),
        search=req.one("search"),
        status=status,
        include_deleted=assume.status_all_includes_deleted,
        sort_by=sort_by,
        descending=order == "desc",
    )
    page = matches[offset : offset + per_page]
    more = offset + per_page < len(matches)
    info = {
        "count": len(page),
        "cursor": _cursor(offset + per_page) if more else "",
        "per_page": per_page,
        "total_count": len(matches) if assume.total_count == "number" else None,
    }
    null_user = assume.missing_user == "null"
    with server.state.lock:
        listed = [r.to_listed_dict(null_user=null_user) for r in page]
    return 200, envelope(listed, info)


def get_registration(server: EmulatorServer, req: Request) -> tuple[int, Any]:
    assume = server.assumptions
    registration_id = req.params["registration_id"]
    found = server.state.query(
        req.params["account_id"],
        ids=[registration_id],
        status="all",
        include_deleted=assume.status_all_includes_deleted,
    )
    if not found:
        raise EmulatedAPIError(404, CODE_NOT_FOUND, f"Registration {registration_id} not found")
    return 200, envelope(found[0].to_dict(null_user=assume.missing_user == "null"))


_ACCOUNT = r"^/accounts/(?P<account_id>[^/]+)/devices"
ROUTES: tuple[Route, ...] = tuple(
    Route(method, re.compile(_ACCOUNT + suffix + "$"), handler, write, token_only, deprecated)
    for method, suffix, handler, write, token_only, deprecated in [
        ("POST", "/revoke", devices_revoke, True, False, True),
        ("POST", "/unrevoke", devices_unrevoke, True, False, True),
        ("POST", "/registrations/revoke", registrations_revoke, True, True, False),
        ("POST", "/registrations/unrevoke", registrations_unrevoke, True, True, False),
        ("GET", "/registrations", list_registrations, False, True, False),
        ("GET", "/registrations/(?P<registration_id>[^/]+)", get_registration, False, True, False),
    ]
)


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the emulator's state, faults, switches and request log."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        tokens: Mapping[str, str],
        api_keys: Mapping[tuple[str, str], str],
        assumptions: Assumptions | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.state = EmulatorState()
        self.faults = FaultBook()
        self.requests = RequestLog()
        self.tokens = dict(tokens)
        self.api_keys = dict(api_keys)
        self.latency = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals = 0
        self.rate_limited = 0
        self._in_flight_lock = threading.Lock()
        self._initial_assumptions = assumptions or Assumptions()
        self._initial_rate_limit = rate_limit
        self.assumptions = self._initial_assumptions
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        super().__init__(address, _RequestHandler)

    def set_rate_limit(self, limit: RateLimit | None) -> None:
        """Limit API requests from now on with a fresh window (``None``: no limit)."""
        self.limiter = RateLimiter(limit) if limit else None

    def reset(self) -> None:
        """Forget accounts, faults, latency, the request log and the counts; restore the
        assumptions and rate limit the server was made with."""
        self.state.reset()
        self.faults.clear()
        self.requests.clear()
        self.latency = 0.0
        self.arrivals = 0
        self.rate_limited = 0
        self.assumptions = self._initial_assumptions
        self.set_rate_limit(self._initial_rate_limit)


class _RequestHandler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and delayed ACKs add about 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr logging: the request log records everything."""

    def handle_one_request(self) -> None:
        """The stdlib's, reading request lines up to ``MAX_REQUEST_LINE`` instead of 64 KiB,
        so that the ``max_uri_length`` assumption, not the stdlib, decides what is too long."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self.close_connection = True
                self._send_json(414, _uri_too_long(MAX_REQUEST_LINE))
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            handler = getattr(self, "do_" + self.command, None)
            if handler is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method {self.command!r}")
                return
            handler()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.startswith(CONTROL_PREFIX):
            payload: Any = None
            try:
                payload = json.loads(raw_body) if raw_body else {}
            except ValueError as exc:
                self._send_json(400, {"error": f"Malformed JSON: {exc}"})
                return
            operation = parts.path[len(CONTROL_PREFIX) :]
            self._send_json(*control(self.server, method, operation, payload))
            return
        path = parts.path[len(API_PREFIX) :] if parts.path.startswith(API_PREFIX) else None
        record_path = path if path is not None else parts.path

        server = self.server
        answered = False

        def leave() -> None:
            # Out of flight once, before answering: a client that got its answer and sends
            # the next request at once must not find this one still counted.
            nonlocal answered
            if not answered:
                answered = True
                with server._in_flight_lock:
                    server.in_flight -= 1

        def record(status: int | None) -> None:
            # Recorded before answering, so a client that got its answer finds it logged.
            try:
                body: Any = json.loads(raw_body) if raw_body else None
            except ValueError:
                body = raw_body.decode("utf-8", "replace")
            self.server.requests.append(
                RequestRecord(
                    method, record_path, query, body, self._auth_scheme(), status, time.time()
                )
            )
            leave()

        with server._in_flight_lock:
            server.arrivals += 1
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if server.latency:
                sleep_bounded(server.latency)
            fault = server.faults.take(method, record_path)
            if fault is not None and self._apply_fault(fault, record):
                return
            status, body, headers = self._answer(method, path, query, raw_body)
            record(status)
            self._send_json(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test); nothing to do
        finally:
            leave()

    def _answer(
        self, method: str, path: str | None, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Status, body and extra headers: the URI limit, then the rate limit, then the API."""
        server = self.server
        limit = server.assumptions.max_uri_length
        if limit is not None and len(self.path) > limit:
            return 414, _uri_too_long(limit), {}
        headers: dict[str, str] = {}
        limiter = server.limiter
        if limiter is not None:
            admitted, headers = limiter.admit()
            if not admitted:
                with server._in_flight_lock:
                    server.rate_limited += 1
                return 429, failure(CODE_RATE_LIMITED, RATE_LIMITED_MESSAGE), headers
        status, body = self._api(method, path, query, raw_body)
        return status, body, headers

    def _api(
        self, method: str, path: str | None, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, Any]:
        try:
            if path is None:
                raise EmulatedAPIError(404, 7000, "No route for that URI")
            for route in ROUTES:
                match = route.pattern.match(path)
                if match is None:
                    continue
                if route.method != method:
                    continue
                access = self._authorize(route)
                params = match.groupdict()
                self._check_account(params["account_id"], route)
                request = Request(method, path, query, raw_body, params, access)
                return route.handler(self.server, request)
            if any(route.pattern.match(path) for route in ROUTES):
                raise EmulatedAPIError(405, 7001, "Method not allowed for this route")
            raise EmulatedAPIError(404, 7000, "No route for that URI")
        except EmulatedAPIError as exc:
            return exc.status, failure(exc.code, exc.message)

    def _auth_scheme(self) -> str | None:
        if self.headers.get("Authorization"):
            return "token"
        if self.headers.get("X-Auth-Key") or self.headers.get("X-Auth-Email"):
            return "key"
        return None

    def _authorize(self, route: Route) -> str:
        authorization = self.headers.get("Authorization")
        key, email = self.headers.get("X-Auth-Key"), self.headers.get("X-Auth-Email")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme != "Bearer" or not token:
                raise EmulatedAPIError(
                    400, 6003, "Invalid request headers: malformed Authorization header"
                )
            access = self.server.tokens.get(token)
            if access is None:
                raise EmulatedAPIError(403, 9109, "Invalid access token")
        elif key or email:
            if not (key and email):
                raise EmulatedAPIError(
                    400, 6003, "Invalid request headers: X-Auth-Key needs X-Auth-Email"
                )
            access = self.server.api_keys.get((email, key))
            if access is None:
                raise EmulatedAPIError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
            if route.token_only:
                raise EmulatedAPIError(403, 10000, "Authentication error")
        else:
            raise EmulatedAPIError(
                400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
            )
        if route.write and access != "write":
            raise EmulatedAPIError(403, 10000, "Authentication error")
        return access

    def _check_account(self, account_id: str, route: Route) -> None:
        if not ACCOUNT_ID.match(account_id):
            raise EmulatedAPIError(
                404,
                7003,
                f"Could not route to /accounts/{account_id}/devices, "
                "perhaps your object identifier is invalid?",
            )
        account = self.server.state.accounts.get(account_id)
        if account is None:
            raise EmulatedAPIError(403, 9109, "Unauthorized to access requested resource")
        if route.deprecated and account.multi_user:
            raise EmulatedAPIError(
                400,
                CODE_MULTI_USER,
                "This endpoint is not supported on accounts with multi-user mode enabled; "
                "use /devices/registrations instead",
            )

    def _apply_fault(self, fault: Fault, record: Callable[[int | None], None]) -> bool:
        """Apply ``fault``; True when it answered (or hung up), False to go on normally."""
        if fault.delay:
            sleep_bounded(fault.delay)
        if fault.disconnect == "before_response":
            record(None)
            self.close_connection = True
            return True
        if fault.status is None and fault.disconnect is None:
            return False
        status = fault.status or 200
        record(status)
        if fault.body is None:
            data = json.dumps(failure(fault.code, fault.message)).encode()
            content_type = "application/json"
        elif isinstance(fault.body, str):
            data = fault.body.encode()
            content_type = fault.headers.get("Content-Type", "text/html")
        else:
            data = json.dumps(fault.body).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in fault.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                self.send_header(name, value)
        self.end_headers()
        if fault.disconnect == "mid_body":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return True
        self.wfile.write(data)
        return True

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _uri_too_long(limit: int) -> dict[str, Any]:
    return failure(CODE_URI_TOO_LONG, f"URI too long: the request target exceeds {limit} bytes")
