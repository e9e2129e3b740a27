"""The OpenAPI document, made to say what the server does.

Litestar generates the document from the handlers' signatures; this module adds
what the signatures cannot say, from facts the code holds:

- schema plugins: a msgspec struct that forbids unknown fields is a closed
  object (``additionalProperties: false``), and a value decoded loosely but
  validated later (a strategy) is documented as the type it must satisfy
  (``DocumentedAs``);
- ``complete_document``: every operation's error answers as RFC 9457 problems,
  from the layers every request passes: authentication (401, and 403 behind
  ``require_admin``), rate limiting (429), the database (503), parameters and
  bodies (400, 413, 415), path ids (404), idempotency (409, 422); the headers
  those answers carry (``Retry-After``, ``X-Request-ID``); and ``security: []``
  on public operations. Statuses only one handler can produce are declared on
  it with ``problems(...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from typing import cast

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Link
from litestar.openapi.spec import OpenAPIHeader
from litestar.openapi.spec import OpenAPIMediaType
from litestar.openapi.spec import OpenAPIResponse
from litestar.openapi.spec import OpenAPIType
from litestar.openapi.spec import Operation
from litestar.openapi.spec import Parameter
from litestar.openapi.spec import Reference
from litestar.openapi.spec import Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from backtest_api.core.auth import PUBLIC_PATHS
from backtest_api.core.auth import require_admin
from backtest_api.core.errors import PROBLEM_MEDIA_TYPE
from backtest_api.core.errors import Problem
from backtest_api.core.jsonbody import require_json

PROBLEM_REF = "#/components/schemas/Problem"

DESCRIPTIONS = {
    400: "The request is malformed: a parameter, the body or a header; `field` names it",
    401: "No API key, or an unknown or revoked one",
    403: "The key is valid but not allowed here (operators' endpoints need an admin key)",
    404: "No such resource, or one that belongs to another user (the two answers are identical)",
    409: "A conflict: the resource is in use, or a request with this Idempotency-Key is still running",
    413: "The request body is larger than this endpoint accepts",
    415: "The body's Content-Type is not one this endpoint takes",
    422: "This Idempotency-Key was already used for a different request",
    429: "A limit was reached (request rate, pending jobs, bundle size); `Retry-After` says when to retry",
    503: "The database is unreachable; retry after `Retry-After` seconds",
}

_RETRY_AFTER = OpenAPIHeader(
    description="Seconds to wait before retrying",
    required=True,
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
)
_REQUEST_ID = OpenAPIHeader(
    description="The request's id: the client's own X-Request-ID when it sent a sane one, else a new one",
    required=True,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=128),
)


@dataclass(frozen=True)
class DocumentedAs:
    """``Annotated`` metadata: document this field as ``type_`` (the server validates it as one later)."""

    type_: Any


class DocumentedAsPlugin(OpenAPISchemaPlugin):
    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return any(isinstance(item, DocumentedAs) for item in field_definition.metadata)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        marker = next(item for item in field_definition.metadata if isinstance(item, DocumentedAs))
        schema: Schema = schema_creator.for_field_definition(FieldDefinition.from_annotation(marker.type_))
        return schema


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """msgspec structs as Litestar documents them, closed when they refuse unknown fields."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


SCHEMA_PLUGINS = [DocumentedAsPlugin(), ClosedStructSchemaPlugin()]


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` of a handler: problem answers only it produces (completed by ``complete_document``)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }


#: Where a created resource's id is in its answer.
CREATED_ID = "$response.body#/id"


def links(statuses: tuple[int, ...], parameter: str, *operation_ids: str) -> dict[str, Any]:
    """``opt=`` of a handler that creates a resource: its ``statuses`` answers link to
    ``operation_ids``, each taking the new id as its path ``parameter``."""
    return {"links": (statuses, parameter, operation_ids)}


def _add_links(handler: HTTPRouteHandler, responses: dict[str, Any]) -> None:
    declared = handler.opt.get("links")
    if declared is None:
        return
    statuses, parameter, operation_ids = declared
    for status in statuses:
        response = responses.get(str(status))
        if isinstance(response, OpenAPIResponse):
            response.links = {
                operation_id: Link(operation_id=operation_id, parameters={parameter: CREATED_ID})
                for operation_id in operation_ids
            }


def _problem_response(status: int, existing: OpenAPIResponse | Reference | None) -> OpenAPIResponse:
    description = existing.description if isinstance(existing, OpenAPIResponse) else DESCRIPTIONS[status]
    return OpenAPIResponse(
        description=description or DESCRIPTIONS[status],
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=PROBLEM_REF))},
    )


def _error_statuses(handler: HTTPRouteHandler, operation: Operation, public: bool) -> set[int]:
    statuses = {int(code) for code in operation.responses or {} if code.isdigit() and int(code) >= 400}
    parameters = operation.parameters or []
    if parameters or operation.request_body is not None:
        statuses.add(400)
    if any(isinstance(p, Parameter) and p.param_in == "path" for p in parameters):
        statuses.add(404)
    if public:
        return statuses
    statuses |= {401, 429, 503}
    if any(getattr(guard, "func", guard) is require_admin for guard in handler.resolve_guards()):
        statuses.add(403)
    if "POST" in handler.http_methods:
        statuses |= {400, 409, 422}
    if handler.resolve_before_request() is require_json:
        statuses |= {400, 413, 415}
    return statuses


def _complete_operation(
    handler: HTTPRouteHandler, operation: Operation, public: bool, post_parameters: list[Parameter]
) -> None:
    responses = operation.responses = dict(operation.responses or {})
    for status in _error_statuses(handler, operation, public):
        existing = responses.get(str(status))
        # Kept: an error answer a handler documents with a body of its own (readiness's 503).
        own_body = isinstance(existing, OpenAPIResponse) and PROBLEM_MEDIA_TYPE not in (existing.content or {})
        if existing is None or status == 400 or not own_body:
            responses[str(status)] = _problem_response(status, existing)
    for code, response in responses.items():
        if not isinstance(response, OpenAPIResponse):
            continue
        headers = dict(response.headers or {})
        headers["X-Request-ID"] = _REQUEST_ID
        if code in ("429", "503"):
            headers["Retry-After"] = _RETRY_AFTER
        response.headers = headers
    _add_links(handler, responses)
    if public:
        operation.security = []
    elif "POST" in handler.http_methods:
        operation.parameters = [*(operation.parameters or []), *post_parameters]


def complete_document(app: Litestar, post_parameters: list[Parameter]) -> None:
    """Complete the app's OpenAPI document in place (see the module docstring); call once, after routing.

    ``post_parameters`` are what every authenticated POST accepts besides its own (``Idempotency-Key``).
    """
    document = app.plugins.get(OpenAPIPlugin).provide_openapi()
    public_paths = [re.compile(pattern) for pattern in PUBLIC_PATHS]
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = (document.paths or {}).get(route.path_format or "/")
        if path_item is None:
            continue
        for handler in route.route_handlers:
            public = bool(handler.opt.get("exclude_from_auth")) or any(p.match(route.path) for p in public_paths)
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation):
                    _complete_operation(handler, operation, public, post_parameters)
    _, components = msgspec.json.schema_components([Problem], ref_template="#/components/schemas/{name}")
    schemas = cast(dict[str, Any], document.components.schemas)
    schemas["Problem"] = components["Problem"]
