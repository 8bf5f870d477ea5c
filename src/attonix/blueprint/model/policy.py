"""The policy section: reviewed, expiring exceptions to policy rules."""

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import Model


class PolicyException(Model):
    """Waives one rule for one component, with a reason and an expiry date."""

    rule: Annotated[str, StringConstraints(pattern=r"^ATX[0-9]{3}$")] = Field(
        description="The rule id as findings print it ('ATX' and three digits; see "
        "docs/policy.md).",
        examples=["ATX012"],
    )
    component: Annotated[str, StringConstraints(pattern=r"^[a-z-]+/[a-z0-9-]+$|^\*$")] = Field(
        description="'kind/name' as findings print it (e.g. 'service/api'), or '*'.",
        examples=["service/api"],
    )
    reason: Annotated[str, StringConstraints(min_length=10, max_length=1000)] = Field(
        description="Why the exception is acceptable (10 to 1000 characters); shown with the "
        "waived finding.",
    )
    expires: dt.date = Field(
        description="The last day the exception holds (YYYY-MM-DD); after it the finding "
        "counts again.",
        examples=["2027-03-31"],
    )


class Policy(Model):
    """Policy settings that live in the blueprint, so that they are reviewed with it."""

    exceptions: list[PolicyException] = Field(
        default_factory=list,
        description="Waivers of one rule for one component, each with a reason and an expiry.",
    )
