"""Who is asking, and what they may do. Every use case takes a Viewer and checks here."""

from __future__ import annotations

from dataclasses import dataclass
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

    def can(self, privilege: Privilege) -> bool:
        # manageServer is "everything", as CONTRACTS says.
        return privilege.value in self.privileges or Privilege.MANAGE_SERVER.value in self.privileges

    def require(self, privilege: Privilege) -> None:
        if not self.can(privilege):
            raise Forbidden(f"this needs the {privilege.value} privilege")

    @property
    def sees_all_jobs(self) -> bool:
        return self.can(Privilege.MANAGE_JOBS)

    def may_see_job_of(self, owner_id: int) -> bool:
        return owner_id == self.user_id or self.sees_all_jobs
