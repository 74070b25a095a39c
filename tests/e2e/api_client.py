"""Calling the REST command API in tests, and checking every answer against its OpenAPI
document (bot/web/openapi.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bot.web.openapi import OPENAPI

_DOCUMENT_URI = "urn:issue-queue-bot:openapi"
_REGISTRY: Registry[Any] = Registry().with_resource(
    _DOCUMENT_URI, Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented operation that serves `method path`: (template, operation)."""
    for template, operations in OPENAPI["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return template, operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check_against_document(method: str, path: str, answer: Answer) -> None:
    """The answer's status is documented for the operation and its body fits the schema."""
    template, operation = operation_for(method, path.partition("?")[0])
    response = operation["responses"].get(str(answer.status))
    assert response is not None, f"{method} {template}: status {answer.status} not documented"
    schema = response["content"]["application/json"]["schema"]
    reference = {"$ref": _DOCUMENT_URI + schema["$ref"]}
    validator = Draft202012Validator(reference, registry=_REGISTRY)
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(answer.body)]
    assert problems == [], (method, path, answer.status, answer.body)
    for header in response.get("headers", {}):
        assert header in answer.headers, f"{answer.status} without {header}"


async def call(
    session: aiohttp.ClientSession,
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One call, checked against the document before it is returned."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with session.request(
        method, base_url + path, json=json_body, data=data, headers=sent
    ) as response:
        answer = Answer(response.status, await response.json(), dict(response.headers))
    check_against_document(method, path, answer)
    return answer
