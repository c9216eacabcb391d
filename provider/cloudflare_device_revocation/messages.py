"""What the provider tells the user: one line per event, naming the resource, in good grammar.

The dynamic provider's stdout reaches the ``pulumi`` user (``pulumi.log`` is not connected
in the provider process), so ``say`` prints. Failure messages are built here too, so that
all the wording lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .batches import Refusal
from .client import MAX_IDS_PER_REQUEST
from .errors import describe_ids
from .inputs import ACCOUNT_ID, RESOURCE_NAME
from .ratelimit import Wait, WaitHook

__all__ = [
    "ANNOUNCE_WAITS_FROM",
    "IDS_IN_MESSAGE",
    "PROGRESS_EVERY",
    "Progress",
    "They",
    "announcer",
    "be",
    "id_list",
    "missing_message",
    "not_revoked_message",
    "refusal_note",
    "registrations",
    "resource_label",
    "say",
    "them",
]

# Print a progress line each time Cloudflare has accepted this many more IDs.
PROGRESS_EVERY = 1_000
# How many IDs a message lists before it summarises the rest as a count.
IDS_IN_MESSAGE = 10
# Waits shorter than this are not announced (a backoff of a fraction of a second).
ANNOUNCE_WAITS_FROM = 1.0


def say(message: str) -> None:
    """Tell the `pulumi` user: the dynamic provider's stdout is shown to them.

    One write per line: resources are created on several threads of one process, and
    ``print`` writes the text and its newline separately, so lines could run together.
    """
    print(message + "\n", end="", flush=True)


def registrations(count: int) -> str:
    return f"{count} registration{'' if count == 1 else 's'}"


def id_list(ids: Sequence[str]) -> str:
    return describe_ids(list(ids), limit=IDS_IN_MESSAGE)


def be(ids: Sequence[str]) -> str:
    return "is" if len(ids) == 1 else "are"


def them(ids: Sequence[str]) -> str:
    return "it" if len(ids) == 1 else "them"


def They(ids: Sequence[str]) -> str:  # noqa: N802 - the capitalised pronoun
    return "It" if len(ids) == 1 else "They"


class Progress:
    """Prints a line each time ``PROGRESS_EVERY`` more IDs are accepted, for long revocations."""

    def __init__(self, label: str, total: int) -> None:
        self.resource_label = label
        self._total = total
        self._next = PROGRESS_EVERY

    def __call__(self, done: int, total: int) -> None:
        if total <= MAX_IDS_PER_REQUEST:
            return
        if done >= self._next or done == total:
            self._next = (done // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            # Accepted is not confirmed: the listing after the last batch decides.
            say(
                f"{self.resource_label}: Cloudflare accepted the revocation of {done} of {total} "
                "registrations so far (confirmed at the end)"
            )


def announcer(label: str) -> WaitHook:
    """A hook that tells the user, in one line, about each wait of a second or more."""

    def announce(wait: Wait) -> None:
        if wait.seconds >= ANNOUNCE_WAITS_FROM:
            say(
                f"{label}: {wait.reason}: waiting {wait.seconds:.0f} s before attempt "
                f"{wait.attempt} of {wait.method} {wait.path}"
            )

    return announce


def resource_label(props: Mapping[str, Any]) -> str:
    """How messages name the resource: its Pulumi name, else its account."""
    name = props.get(RESOURCE_NAME)
    return (
        f"DeviceRevocation {name}"
        if isinstance(name, str) and name
        else (f"DeviceRevocation in account {props.get(ACCOUNT_ID)}")
    )


def refusal_note(ids: Sequence[str], refused: Mapping[str, Refusal]) -> str:
    """Cloudflare's answers to the requests that named these IDs, once each."""
    answers = dict.fromkeys(str(refused[i].error) for i in ids if i in refused)
    if not answers:
        return ""
    return "\nCloudflare's answer: " + "\n".join(answers)


def missing_message(
    label: str,
    account_id: str,
    missing: Sequence[str],
    total: int,
    refused: Mapping[str, Refusal],
) -> str:
    count = len(missing)
    return (
        f"{label}: {count} of {total} declared registration IDs {be(missing)} not in "
        f"account {account_id}: Cloudflare does not list {them(missing)}, so "
        f"{'it' if count == 1 else 'they'} cannot be revoked: {id_list(missing)}.\n"
        "Check each for a typo, and that it belongs to this account (an ID from another "
        "account is not found here); remove IDs of registrations that were deleted; or set "
        "allow_missing_ids=True if the list may legitimately name registrations that no "
        "longer exist (IDs computed from a lookup, for example)." + refusal_note(missing, refused)
    )


def not_revoked_message(
    label: str, account_id: str, active: Sequence[str], refused: Mapping[str, Refusal]
) -> str:
    count = len(active)
    refused_here = [i for i in active if i in refused]
    cause = (
        f"Cloudflare refused to revoke {them(active)}"
        if len(refused_here) == count
        else f"Cloudflare still lists {them(active)} as not revoked after accepting the request"
    )
    return (
        f"{label}: {registrations(count)} in account {account_id} {be(active)} not "
        f"revoked: {cause}: {id_list(active)}."
        + refusal_note(active, refused)
        + "\nNothing is recorded as revoked for them; run `pulumi up` again to retry."
    )
