"""HTTP route that registers an erased member id again (scope ``admin``).

``POST /v1/admin/members/{member_id}/reinstate`` publishes ``member.reinstated`` on the activity topic
(producers cannot send it) and removes the member's tombstone here; scoring and recommend remove
theirs when they apply the event. From then on the id is a new member: nothing erased comes back
(scoring's figures kept under the stand-in id stay there).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ValidationError
from pymongo.errors import PyMongoError

from kith_ingest.api import _admit, _unavailable
from kith_ingest.deps import Intake, Settings
from kith_ingest.intake import Admission
from kith_shared.auth import Admin
from kith_shared.errors import ApiError
from kith_shared.events import SCHEMA_VERSION, encode_structured
from kith_shared.events.data import MemberReinstated
from kith_shared.events.types import MemberReinstatedEvent
from kith_shared.openapi import errors

router = APIRouter(prefix="/v1/admin/members", tags=["admin"])

#: The source of the events this route publishes.
ADMIN_SOURCE = "kith://ingest/admin"


class Reinstated(BaseModel):
    """The member id was registered again."""

    member_id: str
    status: Literal["reinstated"] = "reinstated"
    event_id: str


@router.post(
    "/{member_id}/reinstate",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(
        404, 422, 503, descriptions={404: "The member id is not erased in the caller's tenant: nothing to reinstate"}
    ),
)
async def reinstate_member(
    member_id: Annotated[str, Path(min_length=1, max_length=256)],
    principal: Admin,
    intake: Intake,
    settings: Settings,
) -> Reinstated:
    """Register an erased member id again: its tombstone goes in every service (member.reinstated)."""
    erased = intake.erased
    if erased is None:
        raise ApiError(404, "not_erased", "this ingest keeps no tombstones")
    try:
        data = MemberReinstated(member_id=member_id)
    except ValidationError as exc:
        problems = [{"field": "member_id", "reason": str(e["msg"])} for e in exc.errors()]
        raise ApiError(422, "invalid_member_id", "the member id is not valid", problems=problems) from None
    try:
        await erased.refresh()  # another replica may have taken the erasure since the last refresh
    except PyMongoError:
        raise _unavailable(settings, "store") from None
    if not erased.tombstones.erased(principal.tenant, data.member_id):
        raise ApiError(404, "not_erased", "this member id is not erased in this tenant: nothing to reinstate")
    now = datetime.now(UTC)
    event = MemberReinstatedEvent(
        id=f"reinstate-{uuid.uuid4().hex}",
        source=ADMIN_SOURCE,
        time=now,
        tenant=principal.tenant,
        receivedtime=now,
        schemaversion=SCHEMA_VERSION,
        data=data,
    )
    admission = Admission("valid", id=event.id, source=event.source, event=event, value=encode_structured(event))
    await _admit(intake, settings, [admission], now)
    try:
        await erased.reinstate(principal.tenant, data.member_id)
    except PyMongoError:  # published: scoring and recommend reinstate; a retry removes it here
        raise _unavailable(settings, "store") from None
    return Reinstated(member_id=data.member_id, event_id=event.id)
