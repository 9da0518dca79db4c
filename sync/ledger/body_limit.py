"""Reading a request body without letting its sender decide how much memory it costs: the
declared Content-Length is checked before a byte is read, and the streamed count is checked
as the chunks arrive (a chunked or lying sender is cut off at the limit)."""

from __future__ import annotations

from starlette.requests import Request

from sync.ledger.errors import BadRequest, LedgerError

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


class PayloadTooLarge(LedgerError):
    """The body is over the ledger's configured limit."""

    status = 413


def declared_length(request: Request) -> int | None:
    """The Content-Length header as an integer, or None when absent; 400 when malformed."""
    text = request.headers.get("content-length")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadRequest("bad_content_length", "Content-Length must be a decimal integer")
    return int(text)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge("body_too_large", f"request bodies are limited to {limit} bytes")
