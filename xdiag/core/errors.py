"""One error hierarchy for the whole service.

Every error carries an HTTP status and a message that tells the user what to
do next. The server turns them into `{"error": code, "detail": message}`; the
CLI prints the message and exits non-zero.
"""

from __future__ import annotations


class XdiagError(Exception):
    """Base class: `code` is a stable machine-readable name, `status` the HTTP status."""

    code = "error"
    status = 500

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class BadRequest(XdiagError):
    code = "bad_request"
    status = 400


class InvalidName(BadRequest):
    code = "invalid_name"


class InvalidValue(BadRequest):
    """A number that is not one (`nan`, `inf`, `1e400`, `12abc`) or out of its range."""

    code = "invalid_value"


class BadHost(BadRequest):
    """The Host header names no address this service answers to (DNS rebinding)."""

    code = "bad_host"


class InvalidProfile(BadRequest):
    """Bytes that are not a usable XSpace (empty, truncated, too large, not protobuf)."""

    code = "invalid_profile"


class Unauthorized(XdiagError):
    code = "unauthorized"
    status = 401


class Forbidden(XdiagError):
    code = "forbidden"
    status = 403


class TargetRefused(Forbidden):
    """A host:port the service may not dial (outside the allowed networks, metadata
    addresses, or not the address the registration came from)."""

    code = "target_refused"


class NotFound(XdiagError):
    code = "not_found"
    status = 404


class Conflict(XdiagError):
    code = "conflict"
    status = 409


class PreconditionFailed(Conflict):
    """A conditional store write lost a race (generation mismatch)."""

    code = "precondition_failed"
    status = 412


class Gone(XdiagError):
    code = "gone"
    status = 410


class PayloadTooLarge(XdiagError):
    code = "payload_too_large"
    status = 413


class TooManyRequests(XdiagError):
    code = "rate_limited"
    status = 429


class StoreError(XdiagError):
    """The object store failed in a way retries did not fix."""

    code = "store_unavailable"
    status = 503


class CaptureFailed(XdiagError):
    code = "capture_failed"
    status = 502
