"""Visual facts read from the pixels: what the image itself shows and no neighbour can.

Cheap (a 64x64 copy, numpy only, ~2 ms) and deterministic. The generator never sees pixels, so
without this stage colours in captions and answers were guessed from neighbours' captions.

- colour names: every pixel is named in CIELAB - low chroma is black / gray / white by lightness,
  otherwise the nearest of a few prototypes per basic colour term (Berlin & Kay's eleven, plus
  teal, which easy-vqa and photos of water need). A name counts when it covers enough area.
- subject vs background: the border ring models the background (photographers and easy-vqa put
  the subject inside the frame); inner pixels far (Delta E) from every border colour are the subject.
- grayscale: almost no chroma anywhere; light / dark: mean lightness.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

SIZE = 64  # pixels per side of the copy the facts are read from
BORDER = 0.12  # fraction of each side that models the background
ACHROMATIC_CHROMA = 11.0  # below this chroma a pixel is black, gray or white
MIN_AREA = 0.12  # a colour is named when it covers at least this share of its region
SUBJECT_DELTA_E = 18.0  # an inner pixel this far from every border colour belongs to the subject
MIN_SUBJECT = 0.004  # share of the image below which there is no separable subject
GRAYSCALE_MEAN_CHROMA = 4.0
GRAYSCALE_P99_CHROMA = 12.0
DARK_L, BRIGHT_L = 32.0, 68.0
SHARPNESS_SIZE = 256  # longer side of the gray copy the sharpness is read from
# Variance of the Laplacian over the intensity variance (Pech-Pacheco et al. 2000, normalised for contrast).
# On the 57 bundled photos: the motion-blurred car 0.017, shallow depth of field 0.03-0.05, the rest above.
BLURRY_SHARPNESS = 0.025

# sRGB prototypes per colour term (several per term: one point cannot span "dark blue" to "sky blue").
PROTOTYPES: dict[str, list[tuple[int, int, int]]] = {
    "red": [(255, 0, 0), (200, 30, 40), (150, 20, 25), (220, 60, 50), (180, 40, 60)],
    "orange": [(255, 140, 0), (255, 165, 0), (230, 120, 40), (255, 120, 50), (240, 150, 80)],
    "yellow": [(255, 255, 0), (240, 220, 60), (255, 215, 0), (230, 200, 90), (250, 240, 140), (200, 190, 130), (175, 165, 105)],
    "green": [(0, 128, 0), (0, 200, 0), (60, 180, 75), (34, 139, 34), (107, 142, 35), (150, 200, 100), (40, 80, 40), (90, 110, 50)],
    "teal": [(0, 128, 128), (0, 150, 150), (40, 160, 160), (0, 100, 110)],
    "blue": [(0, 0, 255), (30, 80, 200), (65, 105, 225), (100, 150, 230), (0, 0, 139), (70, 130, 180), (135, 180, 230), (40, 60, 110)],
    "purple": [(128, 0, 128), (150, 80, 200), (100, 50, 150), (180, 130, 220), (90, 40, 110)],
    "pink": [(255, 192, 203), (255, 105, 180), (230, 150, 170), (220, 120, 160), (240, 170, 190)],
    "brown": [(139, 69, 19), (165, 42, 42), (160, 82, 45), (120, 80, 50), (100, 60, 30), (180, 130, 90), (150, 110, 80), (90, 70, 50)],
}
COLOUR_TERMS = ("black", "gray", "white", *PROTOTYPES)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8/float sRGB in 0..255 -> (..., 3) CIELAB (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


_PROTO_NAMES = [name for name, protos in PROTOTYPES.items() for _ in protos]
_PROTO_LAB = srgb_to_lab(np.array([p for protos in PROTOTYPES.values() for p in protos]))


def name_colours(lab: np.ndarray) -> np.ndarray:
    """One colour term per Lab pixel ((N, 3) -> (N,) array of str)."""
    lab = lab.reshape(-1, 3)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    d = ((lab[:, None, :] - _PROTO_LAB[None, :, :]) ** 2).sum(-1)
    names = np.array(_PROTO_NAMES, dtype=object)[d.argmin(1)]
    light = lab[:, 0]
    achro = np.where(light < 25, "black", np.where(light > 80, "white", "gray"))
    # pale, barely tinted surfaces (cream walls, overcast sky) read as white or gray, not as a hue
    # (a pale blue sky stays blue: only warm tints, b* > 0, are washed out)
    pale = (light > 75) & (chroma < 2 * ACHROMATIC_CHROMA) & (lab[:, 2] > 0)
    return np.where((chroma < ACHROMATIC_CHROMA) | (light < 12) | pale, achro, names)


def dominant(names: np.ndarray, min_area: float = MIN_AREA, limit: int = 3) -> list[tuple[str, float]]:
    """Colour terms covering at least ``min_area`` of ``names``, largest first (at least the largest)."""
    if names.size == 0:
        return []
    terms, counts = np.unique(names, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    share = counts[order] / names.size
    out = [(str(terms[i]), float(s)) for i, s in zip(order, share) if s >= min_area][:limit]
    return out or [(str(terms[order[0]]), float(share[0]))]


@dataclass
class VisualFacts:
    """What the pixels say. Colour lists are basic colour terms, largest area first."""

    colours: list[str]
    subject_colours: list[str]
    background_colours: list[str]
    grayscale: bool
    brightness: str  # "dark", "medium" or "bright"
    orientation: str  # "landscape", "portrait" or "square"
    shares: dict[str, float] = field(default_factory=dict)  # whole-image area per named colour
    has_subject: bool = True  # an inner region that differs from the border was found
    # colours of parts of the frame, for questions that name a place ("the sky", "on the right")
    regions: dict[str, list[str]] = field(default_factory=dict)  # top, bottom, left, right, centre
    sharpness: float = 1.0  # variance of the Laplacian / intensity variance (see ``sharpness``)
    blurry: bool = False  # sharpness below BLURRY_SHARPNESS: the whole frame is out of focus or moving

    def phrases(self) -> list[str]:
        """Short English statements for prompts and the UI."""
        out = []
        if self.grayscale:
            out.append("black-and-white photo")
        else:
            out.append("colours: " + ", ".join(self.colours))
            if self.has_subject and self.subject_colours:
                out.append("main subject: " + ", ".join(self.subject_colours))
            if self.background_colours:
                out.append("background: " + ", ".join(self.background_colours))
        if self.brightness != "medium":
            out.append(f"{self.brightness} image")
        return out

    def text(self) -> str:
        return "; ".join(self.phrases())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sharpness(image: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian over the variance of the intensity, on a gray copy whose
    longer side is ``SHARPNESS_SIZE``: low when edges are smeared (defocus, motion), whatever the contrast."""
    gray = image.convert("L")
    gray.thumbnail((SHARPNESS_SIZE, SHARPNESS_SIZE), Image.Resampling.BILINEAR)
    a = np.asarray(gray, dtype=np.float64)
    if min(a.shape) < 3:
        return 1.0
    lap = a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]
    var = float(a.var())
    return float(lap.var() / var) if var > 1e-6 else 1.0  # a flat image has no edges to blur


def visual_facts(image: Image.Image) -> VisualFacts:
    w, h = image.size
    sharp = sharpness(image)
    orientation = "square" if abs(w - h) <= 0.1 * max(w, h) else ("landscape" if w > h else "portrait")
    small = image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    lab = srgb_to_lab(np.asarray(small))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    names = name_colours(lab).reshape(SIZE, SIZE)

    b = max(1, int(round(SIZE * BORDER)))
    border_mask = np.zeros((SIZE, SIZE), bool)
    border_mask[:b, :] = border_mask[-b:, :] = border_mask[:, :b] = border_mask[:, -b:] = True
    # the background is what covers most of the border; a subject touching the frame is not background
    bg_terms = [n for n, _ in dominant(names[border_mask], min_area=0.2, limit=2)]
    bg_pixels = border_mask & np.isin(names, bg_terms)
    bg_lab = lab[bg_pixels][:: max(1, int(bg_pixels.sum()) // 256)]
    flat = lab.reshape(-1, 3)
    dist = np.sqrt(((flat[:, None, :] - bg_lab[None, :, :]) ** 2).sum(-1)).min(1).reshape(SIZE, SIZE)
    fg = (dist > SUBJECT_DELTA_E) & ~bg_pixels
    has_subject = fg.mean() >= MIN_SUBJECT
    subject = names[fg] if has_subject else names[~border_mask]

    third, quarter = SIZE // 3, SIZE // 4
    regions = {
        "top": names[:third], "bottom": names[-third:], "left": names[:, : SIZE // 2], "right": names[:, SIZE // 2 :],
        "centre": names[quarter:-quarter, quarter:-quarter],
    }
    whole = dominant(names.ravel())
    grayscale = float(chroma.mean()) < GRAYSCALE_MEAN_CHROMA and float(np.percentile(chroma, 99)) < GRAYSCALE_P99_CHROMA
    mean_l = float(lab[..., 0].mean())
    brightness = "dark" if mean_l < DARK_L else ("bright" if mean_l > BRIGHT_L else "medium")
    return VisualFacts(
        colours=[n for n, _ in whole],
        subject_colours=[n for n, _ in dominant(subject, min_area=0.2, limit=2)],
        background_colours=bg_terms,
        grayscale=grayscale,
        brightness=brightness,
        orientation=orientation,
        shares={n: round(s, 3) for n, s in dominant(names.ravel(), min_area=0.02, limit=8)},
        has_subject=bool(has_subject),
        regions={k: [n for n, _ in dominant(v.ravel(), min_area=0.15, limit=3)] for k, v in regions.items()},
        sharpness=round(sharp, 4),
        blurry=sharp < BLURRY_SHARPNESS,
    )
