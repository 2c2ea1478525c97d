"""Who is asking, and what they hold. What that lets them do is `resolvers/policy.py`'s to say."""

from __future__ import annotations

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
