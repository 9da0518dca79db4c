"""Draw a payload as a QR image (PNG bytes or SVG text) with `qrcode`, for the kiosk screen."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage

from device.codes.errors import CodeRejected


def _qr(payload: str, box_size: int, border: int) -> qrcode.QRCode:
    if not payload:
        raise CodeRejected("cannot draw an empty payload")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    code.add_data(payload.encode("utf-8"))
    code.make(fit=True)
    return code


def render_qr_png(payload: str, box_size: int = 8, border: int = 4) -> bytes:
    """The payload's QR code as PNG bytes (black on white, error correction M)."""
    image = _qr(payload, box_size, border).make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_qr_svg(payload: str, box_size: int = 8, border: int = 4) -> str:
    """The payload's QR code as a standalone SVG document (one path)."""
    image = _qr(payload, box_size, border).make_image(image_factory=SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")
