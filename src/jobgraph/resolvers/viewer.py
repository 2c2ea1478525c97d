"""Who is asking, and what they hold. What that lets them do is `resolvers/policy.py`'s to say."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jobgraph.errors import Forbidden


class Privilege(StrEnum):
    MANAGE_SERVER = "manageServer"
    MANAGE_JOBS = "manageJobs"
    EXECUTE_PLUGIN = "executePlugin"
    INPUT_PERSONAL_FEEDBACK = "inputPersonalFeedback"
    INPUT_CONSENSUAL_FEEDBACK = "inputConsensualFeedback"
    MANAGE_FEEDBACK = "manageFeedback"


ALL_PRIVILEGES = [p.value for p in Privilege]


@dataclass(frozen=True)
class Viewer:
    user_id: int
    email: str
    privileges: frozenset[str]
    # The token the request came with (None: the operator, acting from the command line).
    token_id: str | None = None
    # A derived token (an OAuth2 access token) lives only while its parent API token does and
    # cannot make further tokens.
    derived: bool = False
    token_expires_at: datetime | None = None

    def can(self, privilege: Privilege) -> bool:
        # manageServer is "everything", as CONTRACTS says.
        return privilege.value in self.privileges or Privilege.MANAGE_SERVER.value in self.privileges

    def require(self, privilege: Privilege) -> None:
        if not self.can(privilege):
            raise Forbidden(f"this needs the {privilege.value} privilege")


class ViewerCache:
    """Viewers by token hash, for at most `seconds` (and never past the token's expiry): a
    client sending request after request is authenticated once per interval, not per request.
    A revocation or a change of privileges in this process clears it at once (`clear`, after
    the commit); one made by another process is seen here within `seconds`."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Viewer, float]] = {}
        self._lock = threading.Lock()
        # Bumped by `clear`: a viewer read before a clear is not kept after it (`put`).
        self.generation = 0

    def get(self, key: str) -> Viewer | None:
        if self.seconds <= 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[1] <= time.monotonic():
                del self._entries[key]
                return None
            return found[0]

    def put(self, key: str, viewer: Viewer, expires_in: float | None, generation: int) -> None:
        """Keep `viewer` for `seconds`, or for `expires_in` (the token's own time left) if shorter;
        not if the cache was cleared since `generation` was read (a change committed meanwhile)."""
        lifetime = self.seconds if expires_in is None else min(self.seconds, expires_in)
        if lifetime <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # many distinct tokens at once: start again rather than grow
            self._entries[key] = (viewer, time.monotonic() + lifetime)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1
