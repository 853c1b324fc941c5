"""Robust, safe image decoding shared by ingestion and every query job.

Every image mmrag touches comes through `load_image` / `decode_image`, which either return a
fully decoded 8-bit RGB `PIL.Image.Image` or raise `ImageLoadError` naming the file and the
reason: missing, empty, too big, not an image, truncated, a decompression bomb, zero-size.
Odd but valid images (CMYK, 16-bit greyscale, alpha, palette, animated, EXIF-rotated) are
normalised so encoders never see a surprise mode.
"""

from __future__ import annotations

import io
import logging
import stat
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mmrag.errors import ImageLoadError

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000  # ~7000x7000; anything larger is refused as a decompression bomb
DEFAULT_MAX_BYTES = 50 * 2**20

_WIDE_GREY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def read_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole image file, refusing missing, non-regular, empty and oversized files."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageLoadError(p, "file not found") from None
    except PermissionError:
        raise ImageLoadError(p, "permission denied") from None
    except OSError as e:
        raise ImageLoadError(p, f"cannot stat file ({e.strerror or e})") from e
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(p, "not a regular file")
    if st.st_size == 0:
        raise ImageLoadError(p, "empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ImageLoadError(p, f"file is {st.st_size} bytes, over the limit of {max_bytes} bytes")
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)  # +1 so a file that grew since stat() is still caught
    except PermissionError:
        raise ImageLoadError(p, "permission denied") from None
    except OSError as e:
        raise ImageLoadError(p, f"cannot read file ({e.strerror or e})") from e
    if not data:
        raise ImageLoadError(p, "empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageLoadError(p, f"file is over the limit of {max_bytes} bytes")
    return data


def _wide_grey_to_l(img: Image.Image) -> Image.Image:
    # convert("L"/"RGB") clips 16/32-bit values at 255, so a 16-bit scan comes out all white;
    # stretch the range actually used onto 0..255 instead.
    arr = np.asarray(img).astype(np.float64)
    finite = arr[np.isfinite(arr)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if hi > lo:
        out = (np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo) - lo) * (255.0 / (hi - lo))
    else:
        out = np.zeros_like(arr)  # flat image: any single grey is as good as another
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Normalise any decoded mode to 8-bit RGB; transparency is flattened onto white."""
    if img.mode in _WIDE_GREY_MODES:
        img = _wide_grey_to_l(img)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        # Composite rather than drop alpha: transparent pixels often hold black/garbage colour.
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        img = img.convert("RGB")  # P, 1, L, CMYK, YCbCr, LAB, HSV: Pillow converts these properly
    return img


def decode_image(
    data: bytes, where: str | Path = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode image bytes into a fully loaded RGB image (first frame, EXIF orientation applied)."""
    if not data:
        raise ImageLoadError(where, "empty file (0 bytes)")
    # Pillow's own bomb guard warns above Image.MAX_IMAGE_PIXELS: make that warning an error when
    # our limit is stricter; when the caller allows more, our own check below is the guard
    # (the global limit is never modified). Pillow's hard error at 2x its limit still applies.
    # Note: catch_warnings is process-global; a race only demotes the error to a warning.
    action = "error" if max_pixels <= (Image.MAX_IMAGE_PIXELS or max_pixels) else "ignore"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(action, Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # lazy: reads the header only
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageLoadError(where, f"zero-size image ({width}x{height})")
            if width * height > max_pixels:
                raise ImageLoadError(
                    where,
                    f"decompression bomb refused: {width}x{height} = {width * height} pixels "
                    f"exceeds the limit of {max_pixels} pixels",
                )
            img.seek(0)  # animated GIF/APNG/WebP, multi-page TIFF: the first frame only
            img.load()  # decode now so truncation surfaces here, not in an encoder later
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(where, f"decompression bomb refused by Pillow: {e}") from None
    except UnidentifiedImageError:
        raise ImageLoadError(where, "not a recognised image format (or a corrupt header)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        raise ImageLoadError(where, f"image data is truncated or corrupt ({e})") from None
    logger.debug("%s: decoded %s %s image %dx%d", where, img.format, img.mode, width, height)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as e:  # noqa: BLE001 - a broken EXIF block should not cost us the pixels
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", where, e)
    return _to_rgb(img)


def load_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Image.Image:
    """Read and decode one image file; raise ImageLoadError naming the path on any failure."""
    return decode_image(read_bytes(path, max_bytes=max_bytes), where=path, max_pixels=max_pixels)


ImageInput = Union[str, Path, bytes, Image.Image]


def as_image(image: ImageInput) -> Image.Image:
    """Accept a path, raw bytes or a PIL image; always return a safe, loaded RGB image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, (bytes, bytearray)):
        return decode_image(bytes(image))
    return load_image(Path(image))
