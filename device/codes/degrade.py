"""Generated QR frames through the degradations a kiosk camera meets when a customer holds up a
phone: blur, motion blur, noise, low contrast, glare, JPEG, small modules, inverted (dark mode),
screen moiré, perspective and rotation. Deterministic for a given seed."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import qrcode
import qrcode.constants

FRAME_SIZE = (640, 480)  # width, height: the lores stream the kiosk scans
Rng = np.random.Generator


@dataclass(frozen=True)
class GeneratedFrame:
    """One generated grey frame, the bytes its QR code carries, and how it was degraded."""

    image: np.ndarray
    expected: bytes
    category: str


def random_payload(rng: Rng) -> bytes:
    """A payment-like payload: an 18-digit wallet code, a URL-ish token or an EMV-length text."""
    kind = rng.integers(3)
    if kind == 0:
        return str(rng.integers(10, 16)).encode() + bytes(rng.choice(list(b"0123456789"), 16))
    alphabet = list((string.ascii_letters + string.digits + "-_.").encode())
    length = int(rng.integers(30, 60) if kind == 1 else rng.integers(90, 160))
    return b"SPT1." + bytes(rng.choice(alphabet, length))


def qr_modules(payload: bytes) -> np.ndarray:
    """The code's module matrix (True = dark) with the standard 4-module quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(payload)
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


def place_code(modules: np.ndarray, module_px: float, rng: Rng, centred: bool) -> np.ndarray:
    """Dark-on-light code of `module_px` pixels per module on a grey frame whose background is
    a soft gradient (a phone and a hand, roughly); at a random spot unless `centred` (so that a
    rotation or perspective keeps it in view)."""
    width, height = FRAME_SIZE
    side = min(max(round(modules.shape[0] * module_px), modules.shape[0]), height // 2)
    pixels = np.where(modules, 20, 235).astype(np.uint8)
    tile = np.asarray(cv2.resize(pixels, (side, side), interpolation=cv2.INTER_AREA))
    x_ramp = np.linspace(60, 160, width, dtype=np.float32)[None, :]
    frame = np.repeat(x_ramp, height, axis=0) + rng.normal(0, 3, (height, width))
    top, left = (height - side) // 2, (width - side) // 2
    if not centred:
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
    frame[top : top + side, left : left + side] = tile
    return np.clip(frame, 0, 255).astype(np.uint8)


def _blur(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 0.8 + 2.2 * s))


def _motion_blur(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    length = int(4 + 12 * s)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
    turned = np.asarray(cv2.warpAffine(kernel, turn, (length, length)))
    normalised = (turned / max(float(turned.sum()), 1e-6)).astype(np.float32)
    return np.asarray(cv2.filter2D(img, -1, normalised))


def _noise(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0, 15 + 45 * s, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _low_contrast(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    span = 70 - 55 * s  # grey levels left between dark and light modules
    base = rng.uniform(40, 255 - span - 40)
    return (base + img.astype(np.float32) * span / 255).astype(np.uint8)


def _glare(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    height, width = img.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    radius = (0.08 + 0.17 * s) * width
    blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))
    return np.clip(img + blob * (150 + 150 * s), 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    quality = int(30 - 26 * s)
    _, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))


def _inverted(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    return np.asarray(cv2.bitwise_not(img))


def _moire(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    height, width = img.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(2.2, 4.0)
    wave = np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period)
    beat = 0.5 + 0.5 * np.sin(2 * np.pi * xs / rng.uniform(40, 120))
    pattern = (0.25 + 0.45 * s) * wave * beat
    return np.clip(img * (1 + pattern) + 40 * pattern, 0, 255).astype(np.uint8)


def _perspective(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    height, width = img.shape
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    scale = np.array([width, height], dtype=np.float32) * (0.05 + 0.15 * s)
    dst = (src + rng.uniform(-1, 1, (4, 2)) * scale).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped)


def _rotation(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    height, width = img.shape
    angle = rng.choice([-1, 1]) * (10 + 35 * s)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return np.asarray(cv2.warpAffine(img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))


def _none(img: np.ndarray, rng: Rng, s: float) -> np.ndarray:
    return img


Degradation = Callable[[np.ndarray, Rng, float], np.ndarray]
DEGRADATIONS: dict[str, Degradation] = {
    "clean": _none,
    "blur": _blur,
    "motion_blur": _motion_blur,
    "noise": _noise,
    "low_contrast": _low_contrast,
    "glare": _glare,
    "jpeg": _jpeg,
    "small_modules": _none,  # the code itself is drawn small, see module_size()
    "inverted": _inverted,
    "moire": _moire,
    "perspective": _perspective,
    "rotation": _rotation,
}


def module_size(category: str, rng: Rng, severity: float) -> float:
    """Pixels per module: 1.4-2.4 for "small_modules", else 3-6 like a phone held close."""
    if category == "small_modules":
        return 2.4 - 1.0 * severity
    return float(rng.uniform(3.0, 6.0))


def generate_frames(
    category: str, count: int, seed: int = 0, severity: tuple[float, float] = (0.0, 1.0)
) -> Iterator[GeneratedFrame]:
    """`count` frames of one category, severity drawn uniformly from `severity` (0 mild, 1 hard)."""
    if category not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {category!r}; known: {', '.join(DEGRADATIONS)}")
    rng = np.random.default_rng([seed, list(DEGRADATIONS).index(category)])
    for _ in range(count):
        payload = random_payload(rng)
        strength = float(rng.uniform(*severity))
        centred = category in ("rotation", "perspective")
        frame = place_code(qr_modules(payload), module_size(category, rng, strength), rng, centred)
        yield GeneratedFrame(DEGRADATIONS[category](frame, rng, strength), payload, category)
