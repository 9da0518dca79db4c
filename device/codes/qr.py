"""QR decoder chain: zxing-cpp, zxing-cpp with the GlobalHistogram binarizer, pyzbar, pyzbar on
the inverted image. Each step runs only when the earlier ones found nothing and the frame budget
is not spent. Results carry the raw bytes of the symbol, never a re-encoded string."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_BUDGET_S = 0.060  # about one frame at 15 fps


@dataclass(frozen=True)
class DecodedCode:
    """One QR symbol found in a frame: its raw bytes and which decoder read it."""

    data: bytes
    decoder: str

    @property
    def text(self) -> str:
        """Best-effort text: UTF-8, else Shift_JIS (the QR default for kanji), else Latin-1."""
        return bytes_to_text(self.data)

    @property
    def hex(self) -> str:
        """The raw bytes as lowercase hex."""
        return self.data.hex()


def bytes_to_text(data: bytes) -> str:
    """Decode QR bytes to text the way readers guess: UTF-8, then Shift_JIS, then Latin-1."""
    for encoding in ("utf-8", "shift_jis"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def to_grey(image: np.ndarray) -> np.ndarray:
    """A contiguous uint8 greyscale view of a grey, BGR or BGRA image."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"empty image (shape {image.shape})")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a grey or BGR image, got shape {image.shape}")


def _zxing(grey: np.ndarray, binarizer_name: str) -> list[bytes]:
    import zxingcpp  # imported on first use: keeps `import device.codes` cheap

    results = zxingcpp.read_barcodes(
        grey,
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        binarizer=getattr(zxingcpp.Binarizer, binarizer_name),
    )
    return [bytes(r.bytes) for r in results if r.valid]


def zxing_local(grey: np.ndarray) -> list[bytes]:
    """zxing-cpp with its default LocalAverage binarizer (also tries the inverted image)."""
    return _zxing(grey, "LocalAverage")


def zxing_global(grey: np.ndarray) -> list[bytes]:
    """zxing-cpp with the GlobalHistogram binarizer: reads screen moiré the default misses."""
    return _zxing(grey, "GlobalHistogram")


# zbar's ZBAR_CFG_BINARY (0.23+): hand back the symbol's bytes instead of zbar's UTF-8 guess.
_ZBAR_CFG_BINARY = 4


def pyzbar_plain(grey: np.ndarray) -> list[bytes]:
    """zbar through pyzbar's ctypes wrapper, QR only, in binary mode (raw bytes)."""
    from pyzbar import pyzbar as zb
    from pyzbar import wrapper as zw

    height, width = grey.shape
    pixels = ctypes.c_char_p(np.ascontiguousarray(grey).tobytes())  # kept alive for the scan
    with zb._image_scanner() as scanner:
        _zbar_qr_only_binary(scanner)
        with zb._image() as img:
            zw.zbar_image_set_format(img, zb._FOURCC["L800"])
            zw.zbar_image_set_size(img, width, height)
            zw.zbar_image_set_data(img, ctypes.cast(pixels, ctypes.c_void_p), width * height, None)
            if zw.zbar_scan_image(scanner, img) < 0:
                return []
            return [symbol.data for symbol in zb._decode_symbols(zb._symbols_for_image(img))]


def _zbar_qr_only_binary(scanner: object) -> None:
    from pyzbar import wrapper as zw

    zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.NONE, zw.ZBarConfig.CFG_ENABLE, 0)
    zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.QRCODE, zw.ZBarConfig.CFG_ENABLE, 1)
    zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, 1)


def pyzbar_inverted(grey: np.ndarray) -> list[bytes]:
    """zbar on the inverted image: zbar alone reads no light-on-dark (dark mode) codes."""
    return pyzbar_plain(cv2.bitwise_not(grey))


Decoder = Callable[[np.ndarray], list[bytes]]

DECODERS: dict[str, Decoder] = {
    "zxing": zxing_local,
    "zxing-globalhistogram": zxing_global,
    "pyzbar": pyzbar_plain,
    "pyzbar-inverted": pyzbar_inverted,
}
CHAIN: tuple[str, ...] = tuple(DECODERS)


def decode_frame(
    image: np.ndarray,
    budget_s: float = DEFAULT_BUDGET_S,
    chain: Sequence[str] = CHAIN,
) -> list[DecodedCode]:
    """Decode the QR codes in a grey or BGR frame with the chain; the first decoder that finds
    anything wins. No further decoder starts once `budget_s` has passed since the call began."""
    started = time.perf_counter()
    grey = to_grey(image)
    for position, name in enumerate(chain):
        if position > 0 and time.perf_counter() - started > budget_s:
            break
        found = DECODERS[name](grey)
        if found:
            return _unique(found, name)
    return []


def _unique(found: list[bytes], decoder: str) -> list[DecodedCode]:
    seen: dict[bytes, None] = dict.fromkeys(found)
    return [DecodedCode(data, decoder) for data in seen]
