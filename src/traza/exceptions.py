"""Errors users can act on, carrying MLflow's error codes so REST clients see the same thing."""

from __future__ import annotations

from typing import Any

INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
INVALID_STATE = "INVALID_STATE"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
BAD_REQUEST = "BAD_REQUEST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"

_HTTP_STATUS = {
    INTERNAL_ERROR: 500,
    INVALID_PARAMETER_VALUE: 400,
    INVALID_STATE: 400,
    RESOURCE_ALREADY_EXISTS: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    BAD_REQUEST: 400,
    ENDPOINT_NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    NOT_IMPLEMENTED: 501,
    TEMPORARILY_UNAVAILABLE: 503,
}


def http_status_for(error_code: str) -> int:
    """The HTTP status MLflow's server answers with for ``error_code``."""
    return _HTTP_STATUS.get(error_code, 500)


class TrazaException(Exception):
    """The one error type of Traza's API; ``error_code`` is MLflow's name for the failure."""

    def __init__(self, message: object, error_code: str = INTERNAL_ERROR, **kwargs: Any) -> None:
        self.message = str(message)
        self.error_code = error_code if error_code in _HTTP_STATUS else INTERNAL_ERROR
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def get_http_status_code(self) -> int:
        return http_status_for(self.error_code)

    def serialize_as_json(self) -> str:
        import json

        return json.dumps({"error_code": self.error_code, "message": self.message})

    @classmethod
    def invalid_parameter_value(cls, message: str, **kwargs: Any) -> TrazaException:
        return cls(message, error_code=INVALID_PARAMETER_VALUE, **kwargs)


MlflowException = TrazaException


class RestException(TrazaException):
    """An error answered by a tracking server, with the code the server sent."""

    def __init__(self, json_body: dict[str, Any]) -> None:
        code = str(json_body.get("error_code", INTERNAL_ERROR))
        super().__init__(f"{code}: {json_body.get('message', '')}", error_code=code)
        self.json = json_body


class ExecutionException(TrazaException):
    """A project run that could not start or did not succeed."""


def not_found(what: str) -> TrazaException:
    return TrazaException(what, error_code=RESOURCE_DOES_NOT_EXIST)


def invalid(message: str) -> TrazaException:
    return TrazaException(message, error_code=INVALID_PARAMETER_VALUE)
