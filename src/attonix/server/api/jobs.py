"""Background jobs over HTTP (administrators): list and show."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from attonix.server.auth.deps import Ctx, Require
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.db.models import Job
from attonix.server.errors import NotFound
from attonix.server.schemas import JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])
Reader = Annotated[Principal, Depends(Require(Permission.JOBS_READ))]


@router.get("", response_model=list[JobOut], name="list_jobs")
def list_jobs(
    ctx: Ctx,
    p: Reader,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobOut]:
    """Recent jobs, newest first."""
    with ctx.db.session() as s:
        q = select(Job).order_by(Job.id.desc()).limit(limit)
        if status:
            q = q.where(Job.status == status)
        return [JobOut.model_validate(j) for j in s.execute(q).scalars()]


@router.get("/{job_id}", response_model=JobOut, name="get_job")
def get_job(job_id: Annotated[int, Path(ge=1, le=2**31 - 1)], ctx: Ctx, p: Reader) -> JobOut:
    """One job."""
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"No job {job_id}.")
        return JobOut.model_validate(job)
