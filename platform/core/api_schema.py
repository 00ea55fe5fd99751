"""What every API operation shares in its OpenAPI description: the error body, the errors
each may answer, and path parameters with an example. Each view describes its own answers
with the serializers that produce them (`@extend_schema` beside the view); drf-spectacular
builds the schema at /api/schema/ from both.

Every error body is `{"detail": "..."}` (core.errors.api_exception_handler); 429 answers
carry Retry-After.
"""

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def answers(
    ok: dict[int, Any],
    *,
    denied: str = "",
    missing: str = "",
    bad: str = "",
    auth: bool = True,
) -> dict[int, Any]:
    """`ok` (status -> serializer) plus the errors: 400 for every one (a NUL character in the
    address or a parameter is refused before any view: core.errors.NulRefusalMiddleware),
    with `bad` saying what else it answers 400 for; 401 and 403 for operations that need a
    login (403 alone, when `denied` says why, for those that do not), 404 when `missing` says
    what, and 429 for every one (each is throttled)."""
    responses = dict(ok)
    nul = "A NUL character in the address, a parameter or a field."
    responses[400] = OpenApiResponse(ErrorSerializer, description=f"{bad} {nul}" if bad else nul)
    if auth:
        responses[401] = OpenApiResponse(ErrorSerializer, description="No valid token or session.")
        responses[403] = OpenApiResponse(ErrorSerializer, description=denied or "Not allowed.")
    elif denied:
        responses[403] = OpenApiResponse(ErrorSerializer, description=denied)
    if missing:
        responses[404] = OpenApiResponse(ErrorSerializer, description=missing)
    responses[429] = OpenApiResponse(
        ErrorSerializer,
        description="Too many requests: wait the seconds in the Retry-After header.",
    )
    return responses


def path_parameter(name: str, kind: type, example: Any, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(name, value=example)],
    )


def query_parameter(name: str, kind: type, description: str, **more: Any) -> OpenApiParameter:
    return OpenApiParameter(name, kind, description=description, **more)
