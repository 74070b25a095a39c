"""The OpenAPI 3.1 description of the REST command API, served at `/api/openapi.json`.

Tests validate every answer the API gives against it (tests/e2e/test_api.py), so it stays
true; change both together.
"""

from __future__ import annotations

from typing import Any

ERROR_CODES = [
    "bad_json",
    "unauthorized",
    "forbidden_command",
    "forbidden_repository",
    "permission_denied",
    "blocked_by_hook",
    "unknown_command",
    "not_installed",
    "issue_not_found",
    "run_not_found",
    "not_found",
    "busy",
    "too_large",
    "invalid_request",
    "invalid_parameters",
    "rate_limited",
    "unavailable",
    "paused",
    "idempotency_key_reused",
]

_SCALAR: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}

_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["executionTime", "hooksRun", "stateVersion", "auditId", "runId"],
    "properties": {
        "executionTime": {
            "type": ["number", "null"],
            "description": "Milliseconds from the start of the run to its end.",
        },
        "hooksRun": {"type": "integer", "minimum": 0},
        "stateVersion": {
            **_NULLABLE_STRING,
            "description": "The state version that holds the run's record.",
        },
        "auditId": {
            **_NULLABLE_STRING,
            "description": "The id of the run's status comment on its issue.",
        },
        "runId": {"type": "string"},
    },
}

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"enum": ERROR_CODES},
                "message": {"type": "string"},
                "field": _NULLABLE_STRING,
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": _NULLABLE_STRING, "message": {"type": "string"}},
                    },
                },
                "suggestions": {"type": "array", "items": {"type": "string"}},
                "hooks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "reason"],
                        "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
                "metadata": {"$ref": "#/components/schemas/Metadata"},
            },
        },
    },
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_UNAUTHORIZED = _error_response("No valid bearer token.")

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "issue-queue-bot command API",
        "version": "1",
        "description": "Run the bot's commands from outside GitHub. Every call passes the "
        "same hooks as a comment and is recorded on its issue.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "CommandCall": {
                "type": "object",
                "additionalProperties": False,
                "required": ["context"],
                "properties": {
                    "params": {"type": "object", "additionalProperties": _SCALAR},
                    "context": {
                        "type": "object",
                        "required": ["repository", "issue"],
                        "properties": {
                            "repository": {
                                "type": "string",
                                "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
                            },
                            "issue": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        },
                    },
                },
            },
            "Metadata": _METADATA,
            "RunResult": {
                "type": "object",
                "required": ["success", "result", "metadata"],
                "properties": {
                    "success": {"type": ["boolean", "null"]},
                    "result": {
                        "type": "object",
                        "required": ["status", "markdown", "error"],
                        "properties": {
                            "status": {
                                "enum": [
                                    "queued",
                                    "running",
                                    "succeeded",
                                    "failed",
                                    "blocked",
                                    "refused",
                                    "cancelled",
                                ]
                            },
                            "markdown": _NULLABLE_STRING,
                            "error": _NULLABLE_STRING,
                        },
                    },
                    "metadata": {"$ref": "#/components/schemas/Metadata"},
                },
            },
            "Pending": {
                "type": "object",
                "required": ["success", "runId", "status", "url"],
                "properties": {
                    "success": {"const": None},
                    "runId": {"type": "string"},
                    "status": {"const": "running"},
                    "url": {"type": "string"},
                },
            },
            "Error": _ERROR,
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/commands/{name}": {
            "post": {
                "operationId": "runCommand",
                "summary": "Run a command on an issue",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "The same key from the same token runs once.",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/CommandCall"}}
                    },
                },
                "responses": {
                    "200": _json(
                        "RunResult", "The run ended: succeeded, or failed (`success` false)."
                    ),
                    "202": _json("Pending", "Still running: poll `url`."),
                    "400": _error_response("The body is not JSON."),
                    "401": _UNAUTHORIZED,
                    "403": _error_response(
                        "Out of the token's scope, refused for permission, or blocked by a hook."
                    ),
                    "404": _error_response("Unknown command (with suggestions), issue or App."),
                    "409": _error_response("Another run holds the command's concurrency slot."),
                    "413": _error_response("The body is over 64 KiB."),
                    "422": _error_response("The body or the parameters are wrong (`field`)."),
                    "429": {
                        **_error_response("Rate limited: see `Retry-After`."),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                    "503": _error_response(
                        "The command is paused by its circuit breaker (`paused`, see "
                        "`Retry-After`), or GitHub or the state store failed."
                    ),
                },
            }
        },
        "/api/runs/{run_id}": {
            "get": {
                "operationId": "getRun",
                "summary": "A run's state and, once done, its result",
                "parameters": [
                    {
                        "name": "run_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json("RunResult", "The run, as recorded."),
                    "202": _json("Pending", "Still running."),
                    "401": _UNAUTHORIZED,
                    "403": _error_response("Refused or blocked (the run's own answer)."),
                    "404": _error_response("No such run that this token may see."),
                    "409": _error_response("Blocked by the concurrency guard."),
                    "422": _error_response("Blocked for its parameters."),
                    "429": _error_response("Blocked by a rate limit."),
                    "503": _error_response("The run broke: GitHub or the store failed."),
                },
            }
        },
    },
}
