"""The OpenAPI document Litestar serves declares what the server really answers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import ApiUnderTest, running_api

pytestmark = pytest.mark.anyio

ERROR_REF = "#/components/schemas/ErrorBody"
V1 = "/v1/continuums/{ns}/{name}"


async def document(api: ApiUnderTest) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def responses(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][path][method]["responses"]
    return result


def schema_ref(response: dict[str, Any]) -> str:
    return str(response["content"]["application/json"]["schema"]["$ref"])


async def test_document_lists_exactly_the_served_routes(api: ApiUnderTest) -> None:
    doc = await document(api)
    routes = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/continuums", "get"),
        (V1, "get"),
        (f"{V1}/dry-run", "post"),
        (f"{V1}/health", "get"),
        (f"{V1}/switchover", "post"),
    }


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/v1/continuums", "get", {"200", "401", "403", "404", "422", "503", "504"}),
        (V1, "get", {"200", "401", "403", "404", "422", "503", "504"}),
        (f"{V1}/health", "get", {"200", "401", "403", "404", "409", "422", "503", "504"}),
        (f"{V1}/dry-run", "post", {"200", "401", "403", "404", "409", "413", "422", "503", "504"}),
        (
            f"{V1}/switchover",
            "post",
            {"202", "401", "403", "404", "409", "413", "422", "503", "504"},
        ),
    ],
)
async def test_v1_routes_declare_their_error_responses_with_the_error_schema(
    api: ApiUnderTest, path: str, method: str, codes: set[str]
) -> None:
    declared = responses(await document(api), path, method)
    assert set(declared) == codes  # in particular no 400: validation failures are 422
    refusal = {"409"} if method == "post" else set()  # health's 409 (conflict) is an error
    for code in codes - {"200", "202"} - refusal:
        assert schema_ref(declared[code]) == ERROR_REF, code
    if refusal & codes:
        assert schema_ref(declared["409"]) == "#/components/schemas/RefusalBody"


async def test_request_bodies_are_closed_and_required(api: ApiUnderTest) -> None:
    doc = await document(api)
    for path, body in [
        (f"{V1}/dry-run", "DryRunRequest"),
        (f"{V1}/switchover", "SwitchoverRequest"),
    ]:
        request_body = doc["paths"][path]["post"]["requestBody"]
        assert request_body["required"] is True
        assert schema_ref(request_body) == f"#/components/schemas/{body}"
        assert doc["components"]["schemas"][body]["additionalProperties"] is False
    switchover = doc["components"]["schemas"]["SwitchoverRequest"]
    assert set(switchover["required"]) == {"toRegion", "fingerprint"}
    assert switchover["properties"]["fingerprint"]["pattern"] == "^[0-9a-f]{16}$"


async def test_path_parameters_carry_the_dns_1123_constraints(api: ApiUnderTest) -> None:
    doc = await document(api)
    params = {p["name"]: p["schema"] for p in doc["paths"][V1]["get"]["parameters"]}
    assert params["ns"]["maxLength"] == 63
    assert params["name"]["maxLength"] == 253
    assert params["ns"]["pattern"].startswith("^[a-z0-9]")


async def test_security_requires_bearer_only_when_a_token_is_configured() -> None:
    async with running_api() as api:
        with_token = await document(api)
    async with running_api(token="") as api:
        without = await document(api)
    assert with_token["paths"][V1]["get"]["security"] == [{"ownerTier": [], "bearer": []}]
    assert without["paths"][V1]["get"]["security"] == [{"ownerTier": []}]
    schemes = with_token["components"]["securitySchemes"]
    assert schemes["ownerTier"] == {
        "type": "apiKey",
        "name": "X-Catalyst-Owner-Tier",
        "in": "header",
        "description": schemes["ownerTier"]["description"],
    }
    assert schemes["bearer"]["scheme"] == "bearer"
    assert "security" not in with_token["paths"]["/healthz"]["get"]
