"""The HTTP/1.1 protocol `codesieve serve` runs: uvicorn's httptools protocol, with our JSON envelope
for the requests its parser refuses before they reach the app.

uvicorn answers a request it cannot parse (CR/LF/NUL in a header value, a malformed or 100 KB
request line, folded headers, two Content-Length headers, Content-Length with Transfer-Encoding)
with a plain-text `400 Invalid HTTP request received.` (issue 13). The refusal itself is right and
stays uvicorn's; only the body changes, to the envelope every other error uses.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.protocol.base import ErrorResponse

_BODY = json.dumps(
    ErrorResponse(
        400, "invalid_http_request", "the request line or headers are not valid HTTP/1.1 (the connection is closed)"
    ).body()
).encode()


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - uvicorn's fixed message is replaced
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                _BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
