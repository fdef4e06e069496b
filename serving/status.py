"""gRPC status codes as TF Serving uses them: the one error type of the server and the client, and the
HTTP status of each code on the REST API (TF Serving's REST front end maps them this way)."""

import grpc

# HTTP status for each gRPC code (by name) on the REST API.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


def code_of_http_status(http_status):
    """The gRPC code name a REST reply's HTTP status stands for (the first in HTTP_STATUS), else UNKNOWN."""
    return next((code for code, status in HTTP_STATUS.items() if status == http_status), "UNKNOWN")


class ServingError(Exception):
    """A failed request or call: `code` is the status name (INVALID_ARGUMENT, NOT_FOUND, ...),
    `status` the `grpc.StatusCode`, `message` the text for the caller.

    Args:
        code: a `grpc.StatusCode` or its name.
        message: what went wrong.
    """

    def __init__(self, code, message):
        self.status = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode[code]
        self.code = self.status.name
        self.message = message
        super().__init__(f"{self.code}: {message}")

    @property
    def http_status(self):
        """The HTTP status of this error on the REST API (500 for codes TF Serving does not map)."""
        return HTTP_STATUS.get(self.code, 500)
