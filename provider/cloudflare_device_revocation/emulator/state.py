"""The emulator's in-memory world: accounts, users, devices and their registrations.

Without multi-user mode an account has one registration per device, and the registration
ID equals the device ID, as Cloudflare documents. With it, a device can carry several
registrations (one per user), and the deprecated ``/devices`` operations refuse it. A
registration enrolled with a service token has no user.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Account", "EmulatorState", "Registration", "User"]

_NAMESPACE = uuid.UUID("5c0f1e0e-7d1b-4a4e-9a55-0c1f1a2b3c4d")


def now() -> str:
    """The current time as Cloudflare writes it (RFC 3339, UTC, seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_uuid(*parts: object) -> str:
    """A UUID derived from ``parts``: seeds give the same IDs on every run."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


@dataclass
class User:
    """An enrolled person."""

    id: str
    email: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name}


@dataclass
class Registration:
    """One WARP registration: a user's configuration on one device (``user`` is None for a
    service-token enrollment)."""

    id: str
    device_id: str
    device_name: str
    user: User | None
    key: str
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    last_seen_at: str = field(default_factory=now)
    revoked_at: str | None = None
    deleted_at: str | None = None
    # List answers still to show this registration unrevoked (revocation_listed_after).
    listing_lag: int = 0

    def to_listed_dict(self, *, null_user: bool = False) -> dict[str, Any]:
        """As a list answer shows it: while ``listing_lag`` lasts, not revoked yet."""
        body = self.to_dict(null_user=null_user)
        if self.listing_lag > 0:
            self.listing_lag -= 1
            body["revoked_at"] = None
        return body

    def to_dict(self, *, null_user: bool = False) -> dict[str, Any]:
        """The registration as ``GET /devices/registrations`` returns it.

        Without a user, the ``user`` key is left out, or written as null with ``null_user``
        (Cloudflare documents neither: see the ``missing_user`` assumption).
        """
        body: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "key_type": "secp256r1",
            "tunnel_type": "masque",
            "device": {
                "id": self.device_id,
                "name": self.device_name,
                "client_version": "2025.1.0",
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_seen_at": self.last_seen_at,
            "revoked_at": self.revoked_at,
            "deleted_at": self.deleted_at,
        }
        if self.user is not None:
            body["user"] = self.user.to_dict()
        elif null_user:
            body["user"] = None
        return body

    def user_field(self, name: str) -> str:
        """``user.<name>`` for searching and sorting; empty without a user."""
        return "" if self.user is None else str(getattr(self.user, name))


@dataclass
class Account:
    """A Cloudflare account and its registrations, in creation order."""

    id: str
    multi_user: bool = False
    registrations: dict[str, Registration] = field(default_factory=dict)


class EmulatorState:
    """All accounts, guarded by one lock; every method is safe from any thread."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}

    def reset(self) -> None:
        """Forget every account."""
        with self.lock:
            self.accounts.clear()

    def account(self, account_id: str, *, multi_user: bool | None = None) -> Account:
        """The account, created on first use."""
        with self.lock:
            account = self.accounts.setdefault(account_id, Account(account_id))
            if multi_user is not None:
                account.multi_user = multi_user
            return account

    def add_registration(
        self,
        account_id: str,
        *,
        registration_id: str | None = None,
        device_id: str | None = None,
        device_name: str | None = None,
        user_email: str | None = None,
        user_name: str | None = None,
        userless: bool = False,
        revoked: bool = False,
    ) -> Registration:
        """Enroll a registration; IDs default to stable UUIDs derived from the account.

        ``userless`` enrolls it without a user, as a service token does.
        """
        if userless and (user_email or user_name):
            raise ValueError("A userless registration takes no user_email or user_name")
        with self.lock:
            account = self.account(account_id)
            n = len(account.registrations)
            user: User | None = None
            if not userless:
                email = user_email or f"user{n}@example.com"
                user = User(
                    id=stable_uuid(account_id, "user", email.lower()),
                    email=email,
                    name=user_name or email.split("@")[0],
                )
            if device_id is None:
                device_id = registration_id or stable_uuid(account_id, "device", n)
            if registration_id is None:
                registration_id = (
                    stable_uuid(
                        account_id,
                        "registration",
                        device_id,
                        user.email if user else "service-token",
                    )
                    if account.multi_user
                    else device_id
                )
            registration = Registration(
                id=registration_id,
                device_id=device_id,
                device_name=device_name or f"device-{n}",
                user=user,
                key=f"emulated-public-key-{registration_id}",
                revoked_at=now() if revoked else None,
            )
            account.registrations[registration_id] = registration
            return registration

    def seed(
        self, account_id: str, count: int, *, multi_user: bool = False, userless: bool = False
    ) -> list[str]:
        """Enroll ``count`` registrations (without users if ``userless``) and return their IDs."""
        with self.lock:
            self.account(account_id, multi_user=multi_user)
            return [self.add_registration(account_id, userless=userless).id for _ in range(count)]

    def set_revoked(
        self,
        account_id: str,
        ids: Iterable[str],
        revoked: bool,
        *,
        all_or_nothing: bool = False,
        listing_lag: int = 0,
    ) -> list[str]:
        """Revoke or unrevoke the known IDs and return the unknown ones, in order.

        Unknown means missing from the account or deleted. With ``all_or_nothing``, nothing
        changes when any ID is unknown. A registration newly revoked is listed as not
        revoked for ``listing_lag`` more list answers.
        """
        with self.lock:
            account = self.account(account_id)
            known: list[Registration] = []
            unknown: list[str] = []
            for registration_id in ids:
                registration = account.registrations.get(registration_id)
                if registration is None or registration.deleted_at is not None:
                    if registration_id not in unknown:
                        unknown.append(registration_id)
                else:
                    known.append(registration)
            if unknown and all_or_nothing:
                return unknown
            stamp = now()
            for registration in known:
                if revoked and registration.revoked_at is None:
                    registration.revoked_at = stamp
                    registration.listing_lag = listing_lag
                elif not revoked:
                    registration.revoked_at = None
                    registration.listing_lag = 0
                registration.updated_at = stamp
            return unknown

    def delete_registration(self, account_id: str, registration_id: str) -> None:
        """Delete a registration, as a user removing a device in the dashboard would."""
        with self.lock:
            self.account(account_id).registrations[registration_id].deleted_at = now()

    def revoked_ids(self, account_id: str) -> set[str]:
        """IDs currently revoked in the account."""
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None:
                return set()
            return {r.id for r in account.registrations.values() if r.revoked_at is not None}

    def query(
        self,
        account_id: str,
        *,
        ids: Sequence[str] = (),
        user_ids: Sequence[str] = (),
        device_id: str | None = None,
        search: str | None = None,
        status: str = "active",
        include_deleted: bool = False,
        sort_by: str = "id",
        descending: bool = False,
    ) -> list[Registration]:
        """Registrations matching the filters, sorted.

        Deleted ones are listed only with ``include_deleted`` and ``status="all"``.
        Registrations without a user match no ``user_ids``, and sort by user fields as if
        those were empty.
        """
        with self.lock:
            account = self.accounts.get(account_id)
            registrations = list(account.registrations.values()) if account else []
        wanted_ids, wanted_users = set(ids), set(user_ids)
        needle = search.lower() if search else None

        def keep(r: Registration) -> bool:
            if r.deleted_at is not None and not (include_deleted and status == "all"):
                return False
            if status == "active" and r.revoked_at is not None:
                return False
            if status == "revoked" and r.revoked_at is None:
                return False
            if wanted_ids and r.id not in wanted_ids:
                return False
            if wanted_users and (r.user is None or r.user.id not in wanted_users):
                return False
            if device_id is not None and r.device_id != device_id:
                return False
            if needle is not None:
                haystack = " ".join(
                    [r.id, r.device_id, r.device_name, r.user_field("email"), r.user_field("name")]
                )
                if needle not in haystack.lower():
                    return False
            return True

        def sort_key(r: Registration) -> str:
            return (
                {
                    "user.name": r.user_field("name"),
                    "user.email": r.user_field("email"),
                    "last_seen_at": r.last_seen_at,
                    "created_at": r.created_at,
                }.get(sort_by, r.id)
                + "\0"
                + r.id
            )

        return sorted(filter(keep, registrations), key=sort_key, reverse=descending)

    def snapshot(self) -> dict[str, Any]:
        """Every account and registration as plain data (for the control surface)."""
        with self.lock:
            return {
                account.id: {
                    "multi_user": account.multi_user,
                    "registrations": [r.to_dict() for r in account.registrations.values()],
                }
                for account in self.accounts.values()
            }
