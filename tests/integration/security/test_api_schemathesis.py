"""Schemathesis against /api/v1's OpenAPI document: whatever it generates, the API never answers 5xx.

Runs as an administrator and as a *pelaksana* (officer) with API tokens, on the demo office, so
the generated requests reach the handlers instead of stopping at 401. Every operation of the
document is exercised (the schemathesis pytest plugin is not used: the strategies are driven by
Hypothesis directly, one operation at a time).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app.container import Container
from cli.users import load_demo
from inbox import auth
from inbox.app import create_app
from intake import db
from intake.models import User


@pytest.fixture
def api(container: Container) -> tuple[Any, dict[str, str]]:
    """The app's OpenAPI schema limited to /api/v1, and tokens for two roles, on the demo office."""
    load_demo(container)
    tokens = {}
    with db.write_session(container.engine) as s:
        users = {u.role: u for u in s.exec(select(User)).all()}
        for role in ("admin", "officer"):
            tokens[role] = auth.create_token(
                s, user=users[role], name=f"schemathesis-{role}", now=container.now()
            )
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(container))
    return schema.include(path_regex=r"^/api/v1/"), tokens


def test_api_never_answers_5xx(api: tuple[Any, dict[str, str]]) -> None:
    schema, tokens = api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "no /api/v1 operation in the OpenAPI document"
    seen: list[str] = []
    for operation in operations:
        seen.append(f"{operation.method.upper()} {operation.path}")

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(), role=st.sampled_from(sorted(tokens)))
        def check(case: Any, role: str) -> None:
            response = case.call(headers={"Authorization": f"Bearer {tokens[role]}"})
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                role,
                response.status_code,
                response.text[:300],
            )

        check()
    assert any(s.startswith("GET /api/v1/complaints") for s in seen), seen


def test_api_without_a_valid_token_is_refused(container: Container) -> None:
    client = TestClient(create_app(container))
    assert client.get("/api/v1/complaints").status_code in (401, 403)
    assert client.get("/api/v1/complaints", headers={"Authorization": "Bearer forged"}).status_code in (
        401,
        403,
    )
