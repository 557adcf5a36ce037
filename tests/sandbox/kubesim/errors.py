"""API errors as the real apiserver reports them: a metav1 Status with code, reason and details."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the server answers with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The Status object for the response body."""
        body: dict[str, Any] = {
            'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': self.message, 'reason': self.reason, 'code': self.code,
        }
        if self.details is not None:
            body['details'] = self.details
        return body


def _qualified(group: str, plural: str) -> str:
    return f'{plural}.{group}' if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    """404: `deployments.apps "web" not found`."""
    return ApiError(404, 'NotFound', f'{_qualified(group, plural)} "{name}" not found', {'name': name, 'group': group, 'kind': plural})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    """409: `deployments.apps "web" already exists`."""
    return ApiError(409, 'AlreadyExists', f'{_qualified(group, plural)} "{name}" already exists', {'name': name, 'group': group, 'kind': plural})


def conflict(group: str, plural: str, name: str) -> ApiError:
    """409 on a stale resourceVersion, worded as the apiserver words it."""
    return ApiError(
        409, 'Conflict',
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": the object has been modified; '
        'please apply your changes to the latest version and try again',
        {'name': name, 'group': group, 'kind': plural})


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with field causes: [(field, message), ...]."""
    text = ', '.join(f'{field}: {message}' for field, message in causes)
    return ApiError(
        422, 'Invalid', f'{kind}.{group or "core"} "{name}" is invalid: {text}' if group else f'{kind} "{name}" is invalid: {text}',
        {'name': name, 'group': group, 'kind': kind,
         'causes': [{'reason': 'FieldValueInvalid', 'message': message, 'field': field} for field, message in causes]})


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, 'BadRequest', message)


def gone(message: str) -> ApiError:
    """410 Gone, for a watch from a resourceVersion older than the history kept."""
    return ApiError(410, 'Expired', message)


def unsupported_media_type(message: str) -> ApiError:
    """415, for protobuf bodies and unsupported patch types."""
    return ApiError(415, 'UnsupportedMediaType', message)
