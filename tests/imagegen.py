"""Generators of odd, bad and ordinary images for tests (no binary fixtures live in git).

`write_odd_images(dir)` writes one file per awkward case and says which ones must load;
`make_rgb_image(seed)` gives distinct, deterministic RGB images for small test corpora.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Every good case is stored at this (width, height); the EXIF-rotated one loads transposed.
ODD_SIZE = (40, 30)
EXIF_ROTATED = "exif_rotated.jpg"
EXPECTED_SIZE = {EXIF_ROTATED: (ODD_SIZE[1], ODD_SIZE[0])}  # default: ODD_SIZE

GOOD_CASES = (
    "rgb.jpg", "rgba.png", "cmyk.jpg", "grey16.png", "bilevel.png", "palette_transparent.png",
    "animated.gif", "animated.png", "multipage.tif", "grey.png", "la.png", "float32.tif",
    "ycbcr.jpg", "lab.tif", EXIF_ROTATED,
)

# Which reason each bad case must report (a substring of the ImageLoadError message).
BAD_REASONS = {
    "empty.jpg": "empty",
    "text.jpg": "not a recognised image format",
    "truncated.jpg": "truncated",
    "random_bytes.png": "not a recognised image format",
    "bomb_20000x20000.png": "decompression bomb",
    "bomb_10000x10000.png": "decompression bomb",
    "bomb_8000x8000.png": "decompression bomb",
    "zero_width.png": "not a recognised image format",
    "zero.webp": "empty",
}


def make_rgb_image(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A deterministic RGB image per seed: a 4x4 grid of random colours over a random gradient."""
    rng = np.random.default_rng(seed)
    w, h = size
    blocks = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    grid = np.asarray(Image.fromarray(blocks, "RGB").resize((w, h), Image.Resampling.NEAREST))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (np.cos(angle) * xx / max(w, 1) + np.sin(angle) * yy / max(h, 1)) * 96
    out = grid.astype(np.float64) * 0.7 + ramp[..., None] + rng.uniform(0, 64, size=3)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG built by hand: Pillow would need width*height bytes of RAM."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _good_images() -> dict[str, bytes]:
    w, h = ODD_SIZE
    base = make_rgb_image(1, ODD_SIZE)
    rgba = base.convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))  # column 0 fully transparent -> must turn white
    grey16 = np.tile(np.linspace(1000, 3000, w).astype(np.uint16), (h, 1))
    palette = base.quantize(colors=8)
    frames = [make_rgb_image(s, ODD_SIZE) for s in (2, 3, 4)]
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    la = Image.merge("LA", (base.convert("L"), Image.fromarray(alpha, "L")))
    floats = np.tile(np.linspace(-1.0, 1.0, w, dtype=np.float32), (h, 1))
    return {
        "rgb.jpg": _save(base, "JPEG", quality=90),
        "rgba.png": _save(rgba, "PNG"),
        "cmyk.jpg": _save(base.convert("CMYK"), "JPEG"),
        "grey16.png": _save(Image.fromarray(grey16), "PNG"),  # opens as mode I;16
        "bilevel.png": _save(base.convert("1"), "PNG"),
        "palette_transparent.png": _save(palette, "PNG", transparency=0),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0),
        "animated.png": _save(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "multipage.tif": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "grey.png": _save(base.convert("L"), "PNG"),
        "la.png": _save(la, "PNG"),
        "float32.tif": _save(Image.fromarray(floats, "F"), "TIFF"),
        "ycbcr.jpg": _save(base.convert("YCbCr"), "JPEG"),
        "lab.tif": _save(base.convert("LAB"), "TIFF"),
        EXIF_ROTATED: _save(base, "JPEG", exif=exif),
    }


def _bad_images() -> dict[str, bytes]:
    noise = np.random.default_rng(7).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    noisy = Image.fromarray(noise, "RGB")
    jpeg = _save(noisy, "JPEG", quality=95)  # noise keeps the entropy-coded part long
    zero_width = bytearray(_bilevel_png(8, 8))
    zero_width[16:20] = b"\x00\x00\x00\x00"  # IHDR width := 0 (CRC now wrong too)
    return {
        "empty.jpg": b"",
        "text.jpg": b"This is a text file, not a JPEG.\n" * 4,
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "random_bytes.png": np.random.default_rng(11).bytes(4096),
        "bomb_20000x20000.png": _bilevel_png(20000, 20000),  # > 2x Pillow's limit: its hard error
        "bomb_10000x10000.png": _bilevel_png(10000, 10000),  # > Pillow's limit: its warning
        "bomb_8000x8000.png": _bilevel_png(8000, 8000),  # under Pillow's limit, over ours
        "zero_width.png": bytes(zero_width),
        "zero.webp": b"",
    }


def write_odd_images(directory: Path) -> dict[str, bool]:
    """Write one file per case into `directory`; return {file_name: should_load_ok}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cases: dict[str, bool] = {}
    for ok, images in ((True, _good_images()), (False, _bad_images())):
        for name, data in images.items():
            (directory / name).write_bytes(data)
            cases[name] = ok
    return cases
