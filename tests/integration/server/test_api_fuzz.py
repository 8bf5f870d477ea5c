"""Schemathesis against the app's own OpenAPI document, signed in as a global administrator:
no server error, and no response that breaks the published schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import select

from attonix.server.app import create_app
from attonix.server.audit import Actor
from attonix.server.auth import sessions
from attonix.server.context import build_context
from attonix.server.db import migrate
from attonix.server.db.models import User
from attonix.server.environments import create_environment, upload
from attonix.server.identity_plans import decide
from attonix.server.security.envelope import KeyRing
from attonix.server.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"
# Calls that would end the fuzzer's own session, or stream until a deployment ends.
SKIP = {"logout", "logout_all", "stream_deployment_logs", "change_password"}
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    s = Settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'fuzz.db'}",
        signing_key="f" * 48,  # type: ignore[arg-type]
        kek=KeyRing.generate_line("fuzz"),  # type: ignore[arg-type]
        run_workers=False,
        login_ip_max_attempts=100000,
    )
    ctx = build_context(s)
    migrate.upgrade(ctx.db)
    actor = Actor("fuzz")
    with ctx.db.session() as db:
        db.add(User(name="fuzzer", is_admin=True, password_hash=None))
    create_environment(ctx, name="prod", actor=actor)
    result = upload(ctx, environment="prod", source=EXAMPLE.read_text(), actor=actor)
    assert result.identity_plan is not None
    decide(
        ctx,
        environment="prod",
        plan_id=result.identity_plan.id,
        approve=True,
        actor=actor,
        two_person_rule=False,
    )
    with ctx.db.session() as db:
        user = db.execute(select(User).where(User.name == "fuzzer")).scalar_one()
        pair = sessions._start_session(ctx, db, user, actor, user_agent="fuzz")
        # The fuzzer's admin session counts as MFA-verified (no enrolment restriction).
        from attonix.server.db.models import AuthSession

        db.get(AuthSession, pair.session_id).mfa_enrol_required = False  # type: ignore[union-attr]
    app = create_app(s, ctx=ctx)
    yield {"app": app, "headers": {"Authorization": f"Bearer {pair.access_token}"}}
    ctx.db.dispose()


@pytest.mark.integration
@pytest.mark.slow
def test_no_server_error_and_responses_match_the_schema(live: dict[str, Any]) -> None:
    # Driven through Hypothesis directly: schemathesis' pytest plugin predates pytest 9.
    api = schemathesis.openapi.from_asgi("/api/v1/openapi.json", live["app"])
    failures: list[str] = []
    tested = 0
    for result in api.get_all_operations():
        op = result.ok()
        if op.definition.raw.get("operationId") in SKIP:
            continue
        tested += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                headers=live["headers"], checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:800]}")
    assert tested >= 45
    assert not failures, "\n\n".join(failures)
