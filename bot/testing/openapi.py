"""GitHub's OpenAPI description, used to route and validate every request to the emulator.

The description is OpenAPI 3.0, whose schemas are JSON Schema draft 4 plus `nullable`.
`nullable` is rewritten into plain JSON Schema once at load, after the few known errata
are corrected (`ERRATA`); refs like `#/components/schemas/issue` resolve through a
`referencing` registry holding the whole document. Validators are built once per
operation, since they run on every request.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DOCUMENT_URI = "urn:github:openapi"
_METHODS = ("get", "put", "post", "patch", "delete")

# Where the description contradicts what GitHub does (and its own examples), GitHub wins.
# Each entry: a JSON pointer to a schema, and the keys merged into it at load. The data
# file itself stays verbatim.
ERRATA: tuple[tuple[str, Mapping[str, Any]], ...] = (
    # `PATCH /gists/{gist_id}` deletes a file given as `null` (the description's own
    # `deleteFile` example), though the schema types each file as a non-null object.
    (
        "/paths/~1gists~1{gist_id}/patch/requestBody/content/application~1json/schema"
        "/properties/files/additionalProperties",
        {"nullable": True},
    ),
)

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    required: bool
    schema: Mapping[str, Any]
    validator: Draft4Validator
    # Values already found valid: the same owners, names and numbers come back on every
    # call, and a schema check costs more than the rest of the emulator's answer.
    _valid: set[Any] = field(default_factory=set, compare=False, repr=False)

    def coerce(self, text: str) -> Any:
        """A query or path string as the schema's type; left a string when it does not fit,
        so that validation reports it."""
        kind = _primary_type(self.schema)
        if kind == "integer" and re.fullmatch(r"-?\d+", text):
            return int(text)
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        return text

    def problems(self, value: Any) -> list[str]:
        # Hashable values only, by type too (True == 1, but one may pass where the other fails).
        key = (type(value), value) if isinstance(value, str | int | bool) else None
        if key is not None and key in self._valid:
            return []
        found = [error.message for error in self.validator.iter_errors(value)]
        if key is not None and not found and len(self._valid) < _VALID_VALUES_KEPT:
            self._valid.add(key)
        return found


_VALID_VALUES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path, with its parameters and body ready to validate."""

    id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    docs_url: str
    path_params: Mapping[str, Parameter]
    query_params: Mapping[str, Parameter]
    body: Draft4Validator | None
    body_required: bool


@dataclass(frozen=True, slots=True)
class Checked:
    """A request's parameters as typed values (defaults filled in), or what is wrong."""

    values: dict[str, Any]
    problems: list[str]


class OpenAPI:
    """Routes requests to operations and checks them against their description."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = _without_nullable(_corrected(document))
        resource: Resource[Any] = DRAFT4.create_resource(self.document)
        self._registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        operations = [
            self._operation(template, method)
            for template, item in self.document["paths"].items()
            for method in _METHODS
            if method in item
        ]
        # Literal segments win over parameters, as in GitHub's router.
        self.operations = sorted(operations, key=lambda op: op.template.count("{"))

    def match(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for this method and (percent-encoded) path, with its raw path values."""
        for operation in self.operations:
            if operation.method != method.upper():
                continue
            found = operation.pattern.fullmatch(raw_path)
            if found:
                return operation, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def check_path(self, operation: Operation, raw: Mapping[str, str]) -> Checked:
        return _check(operation.path_params, raw, "path parameter")

    def check_query(self, operation: Operation, query: Mapping[str, str]) -> Checked:
        # Parameters the description does not name are ignored, as GitHub ignores them.
        known = {name: value for name, value in query.items() if name in operation.query_params}
        return _check(operation.query_params, known, "query parameter")

    def check_body(self, operation: Operation, body: Any) -> list[str]:
        """Problems with a parsed JSON body; `None` means the request had no body."""
        if operation.body is None or (body is None and not operation.body_required):
            return []
        # GitHub reads an empty body as an empty object.
        instance = {} if body is None else body
        return [_describe(best_match([error])) for error in operation.body.iter_errors(instance)]

    def response_validator(self, operation_id: str, status: int) -> Draft4Validator | None:
        """A validator for an operation's documented JSON response, if it documents one."""
        for template, item in self.document["paths"].items():
            for method in _METHODS:
                spec = item.get(method)
                if spec is None or spec["operationId"] != operation_id:
                    continue
                response = spec["responses"].get(str(status))
                if response is None:
                    return None
                pointer = _pointer("paths", template, method, "responses", str(status))
                if "$ref" in response:  # a shared one, e.g. #/components/responses/not_found
                    pointer = response["$ref"].removeprefix("#")
                    response = self._lookup(response["$ref"])
                if "content" not in response:
                    return None
                return self.validator(f"{pointer}/content/application~1json/schema")
        raise KeyError(f"no operation {operation_id!r}")

    def _operation(self, template: str, method: str) -> Operation:
        spec = self.document["paths"][template][method]
        pointer = _pointer("paths", template, method)
        params = [
            self._parameter(node, f"{pointer}/parameters/{index}")
            for index, node in enumerate(spec.get("parameters", []))
        ]

        def parameters(location: str) -> dict[str, Parameter]:
            return {p.name: p for p in params if p.location == location}

        request_body = spec.get("requestBody")
        return Operation(
            id=spec["operationId"],
            method=method.upper(),
            template=template,
            pattern=re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)),
            docs_url=spec.get("externalDocs", {}).get("url", "https://docs.github.com/rest"),
            path_params=parameters("path"),
            query_params=parameters("query"),
            body=(
                self.validator(f"{pointer}/requestBody/content/application~1json/schema")
                if request_body
                else None
            ),
            body_required=bool(request_body and request_body.get("required")),
        )

    def _parameter(self, node: Mapping[str, Any], pointer: str) -> Parameter:
        if "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self._lookup(node["$ref"])
        return Parameter(
            name=node["name"],
            location=node["in"],
            required=bool(node.get("required")),
            schema=node["schema"],
            validator=self.validator(f"{pointer}/schema"),
        )

    def _lookup(self, ref: str) -> Mapping[str, Any]:
        """The node a document-local `#/...` reference points at."""
        node: Mapping[str, Any] = self._registry.resolver(DOCUMENT_URI).lookup(ref).contents
        return node

    def validator(self, pointer: str) -> Draft4Validator:
        """A validator for the schema at this JSON pointer, e.g. `/components/schemas/issue`."""
        # A ref into the whole document, so the schema's own `#/components/...` refs resolve.
        schema = {"$ref": f"{DOCUMENT_URI}#{pointer}"}
        return Draft4Validator(schema, registry=self._registry, format_checker=_format_checker)


def _check(params: Mapping[str, Parameter], raw: Mapping[str, str], kind: str) -> Checked:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, param in params.items():
        if name not in raw:
            if param.required:
                problems.append(f"{kind} {name!r} is required")
            elif "default" in param.schema:
                values[name] = param.schema["default"]
            continue
        value = param.coerce(raw[name])
        problems.extend(f"{kind} {name!r}: {p}" for p in param.problems(value))
        values[name] = value
    return Checked(values, problems)


def _describe(error: ValidationError) -> str:
    where = "body" + error.json_path[1:]
    return f"{where}: {error.message}"


def _primary_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        return next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _pointer(*segments: str) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


def _corrected(document: Mapping[str, Any]) -> Any:
    """A copy of `document` with `ERRATA` applied where their pointers lead."""
    fixed = copy.deepcopy(dict(document))
    for pointer, patch in ERRATA:
        node: Any = fixed
        for segment in pointer.split("/")[1:]:
            key = segment.replace("~1", "/").replace("~0", "~")
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):  # a description without that operation has no erratum
            node.update(patch)
    return fixed


def _without_nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the allowed types."""
    if isinstance(node, list):
        return [_without_nullable(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    nullable = node.get("nullable") is True
    out = {
        key: _without_nullable(value)
        for key, value in node.items()
        if not (nullable and key == "nullable")
    }
    if not nullable:
        return out
    if "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


@cache
def load_openapi() -> OpenAPI:
    """The description shipped in `data/github/openapi.json`, loaded once per process."""
    text = (files("bot.testing") / "data" / "github" / "openapi.json").read_text("utf-8")
    return OpenAPI(json.loads(text))
