"""schemathesis, untouched, against a real login endpoint's own /openapi.json: bounded generated
requests (valid and invalid) to every operation, and every answer must be a declared status with
the declared content type, headers and body schema, and never a 5xx but a declared 503 (none is
expected here: every store answers)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from services.login.app import OPENAPI_PATH
from tests.integration.client_seeding import RS_ID, RS_SECRET
from tests.integration.login_harness import Login, login_fixture, seeded
from tests.integration.served_login import serving

login = login_fixture("openapi_fuzz", seeded(("fuzz-user", "pw-fuzz-user")))

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 25
"""Generated requests per operation and phase: ~10 operations stay well under a minute."""
RUN_TIMEOUT_S = 240.0


async def test_openapi_document_is_served_with_every_route(login: Login) -> None:
    async with serving(login) as base, httpx.AsyncClient(base_url=base) as client:
        answer = await client.get(OPENAPI_PATH)
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert "/.well-known/oauth-authorization-server" in paths
    token = paths["/oauth2/token"]["post"]
    grants = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {g["properties"]["grant_type"]["const"] for g in grants["oneOf"]} == {
        "password",
        "refresh_token",
        "client_credentials",
    }
    assert {"200", "400", "401", "429", "503"} <= set(token["responses"])


@pytest.mark.parametrize(
    "credentials",
    [(), ("--auth", f"{RS_ID}:{RS_SECRET}")],
    ids=["anonymous", "as-resource-server"],
)
async def test_schemathesis_finds_no_server_error_and_no_undeclared_answer(
    login: Login, tmp_path: Path, credentials: tuple[str, ...]
) -> None:
    """Anonymous, then with a registered resource server's HTTP Basic credentials on every
    request (past client authentication: introspection and revocation proper, the token
    endpoint's grant rules)."""
    async with serving(login) as base:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "st"),
            "run",
            base + OPENAPI_PATH,
            *credentials,
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "12",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "operations" in report.lower(), report[-2000:]
