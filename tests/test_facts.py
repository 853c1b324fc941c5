"""The visual-facts stage on generated images whose colours are known, and the degenerate-caption checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mmrag.facts import name_colours, srgb_to_lab, visual_facts
from mmrag.generation.degenerate import degenerate_reason

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 40),
    "orange": (250, 140, 20),
    "purple": (120, 40, 140),
    "pink": (250, 170, 190),
    "brown": (130, 80, 40),
    "black": (10, 10, 10),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
    "teal": (0, 128, 128),
}


def shape_on(fg: tuple[int, int, int], bg: tuple[int, int, int], shape: str = "circle", size: int = 96, noise: int = 0, seed: int = 0) -> Image.Image:
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    box = (size * 0.3, size * 0.3, size * 0.7, size * 0.7)
    (d.ellipse if shape == "circle" else d.rectangle)(box, fill=fg)
    if noise:
        a = np.asarray(im).astype(int) + np.random.default_rng(seed).integers(-noise, noise + 1, (size, size, 3))
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return im


@pytest.mark.parametrize("name", list(COLOURS))
def test_a_plain_colour_is_named(name):
    assert name_colours(srgb_to_lab(np.array([COLOURS[name]], float)))[0] == name


@pytest.mark.parametrize("fg,bg", [("blue", "white"), ("red", "gray"), ("yellow", "blue"), ("green", "black"), ("teal", "yellow"), ("brown", "white")])
def test_subject_and_background_colours(fg, bg):
    f = visual_facts(shape_on(COLOURS[fg], COLOURS[bg], noise=12))
    assert f.subject_colours[0] == fg
    assert f.background_colours[0] == bg
    assert set(f.colours) >= {fg, bg}
    assert not f.grayscale


def test_a_shape_that_fills_little_of_the_frame_is_still_the_subject():
    im = Image.new("RGB", (128, 128), COLOURS["green"])
    ImageDraw.Draw(im).rectangle((56, 56, 72, 72), fill=COLOURS["red"])
    f = visual_facts(im)
    assert f.subject_colours == ["red"]
    assert f.colours == ["green"]  # 2% of the area is not a dominant colour of the whole image


def test_grayscale_light_and_dark():
    grey = Image.fromarray(np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (96, 1))).convert("RGB")
    f = visual_facts(grey)
    assert f.grayscale and "black-and-white photo" in f.phrases()
    assert visual_facts(Image.new("RGB", (50, 50), (15, 15, 20))).brightness == "dark"
    assert visual_facts(Image.new("RGB", (50, 50), (240, 240, 235))).brightness == "bright"
    assert not visual_facts(shape_on(COLOURS["red"], COLOURS["blue"])).grayscale


def test_orientation_and_uniform_image():
    f = visual_facts(Image.new("RGB", (200, 100), COLOURS["blue"]))
    assert f.orientation == "landscape" and f.colours == ["blue"] and not f.has_subject
    assert visual_facts(Image.new("RGB", (100, 200), COLOURS["blue"])).orientation == "portrait"


def test_the_bundled_photos_get_sensible_facts():
    from mmrag.images import load_image
    from mmrag.ingestion.sources import bundled_kb

    by_name, truly_grey = {}, {}
    for it in bundled_kb():
        im = load_image(it.path)
        a = np.asarray(im).astype(int)
        truly_grey[it.path.name] = bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
        by_name[it.path.name] = visual_facts(im)
    # six of the 40 photos are stored grey (cameraman, brick, grass, coins, ...): exactly those are black-and-white
    assert {n for n, f in by_name.items() if f.grayscale} == {n for n, g in truly_grey.items() if g}
    assert by_name["cameraman.jpg"].grayscale
    assert "yellow" in by_name["yellow_shop_corner.jpg"].colours
    assert "green" in by_name["squirrel.jpg"].colours and "blue" in by_name["lake.jpg"].colours
    assert by_name["hubble_deep_field.jpg"].brightness == "dark"


@pytest.mark.parametrize(
    "text,reason",
    [
        ("A new photo looks similar to a new photo.", "echoes the prompt"),
        ("A soccer ball, baseball, armadillo, croquet ball, Shih-Tzu.", "a list of labels"),
        ("Write a caption for the photo in one sentence.", "echoes the prompt"),
        ("Answer with one short descriptive sentence.", "copies the instruction"),
        ("一只猫坐在沙发上。", "not English"),
        ("", "empty"),
        ("A cat.", "too short"),
        ("A street " + "with old houses and trees " * 10, "too long"),
        ("def caption(): return 'a cat'", "code"),
        ("A red car and a red car and a red car.", "repeats itself"),
        ("This photo shows a teal, gray, and rapeseed scene.", "a list of labels"),
        ("A white, black, and brown background with a white subject.", "echoes the prompt"),
    ],
)
def test_degenerate_patterns_are_rejected(text, reason):
    got = degenerate_reason(text)
    assert got is not None and reason in got


@pytest.mark.parametrize(
    "text",
    [
        "A cobblestone street lined with old red brick buildings.",
        "A tabby cat lying on a wooden floor.",
        "Two bicycles parked beside a brick wall on a cloudy day.",
        "A black and white portrait of a man holding a camera.",
        "A pencil, a lighter, a coin and a black cap lying on a table.",
        "A red, brown moped parked on a street with a car and pedestrians.",
    ],
)
def test_ordinary_captions_pass(text):
    assert degenerate_reason(text) is None


def _texture(seed: int = 0, size: int = 256) -> Image.Image:
    """Random blocks of gray: sharp edges everywhere."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (size // 8, size // 8), dtype=np.uint8)
    return Image.fromarray(np.kron(blocks, np.ones((8, 8), np.uint8))).convert("RGB")


def test_sharpness_tells_a_blurred_photo_from_a_sharp_one():
    from PIL import ImageFilter

    from mmrag.facts import BLURRY_SHARPNESS, sharpness

    sharp = _texture()
    assert sharpness(sharp) > 4 * BLURRY_SHARPNESS and not visual_facts(sharp).blurry
    for radius in (4, 8):
        blurred = sharp.filter(ImageFilter.GaussianBlur(radius))
        assert sharpness(blurred) < BLURRY_SHARPNESS and visual_facts(blurred).blurry
    # contrast does not change the verdict: the same edges at a quarter of the contrast are as sharp
    faint = Image.fromarray((np.asarray(sharp).astype(np.float64) * 0.25 + 96).astype(np.uint8))
    assert sharpness(faint) == pytest.approx(sharpness(sharp), rel=0.1)
    assert sharpness(Image.new("RGB", (64, 64), (120, 120, 120))) == 1.0  # flat: nothing to call blurry


def test_blur_questions_are_answered_from_the_sharpness():
    from PIL import ImageFilter

    from mmrag.generation.grounded_answers import answer_from_facts

    sharp, blurred = visual_facts(_texture()), visual_facts(_texture().filter(ImageFilter.GaussianBlur(6)))
    assert answer_from_facts("Is the photo blurry?", blurred, True) == "yes"
    assert answer_from_facts("Is the photo blurry?", sharp, True) == "no"
    assert answer_from_facts("Is this photo in focus?", sharp, True) == "yes"
    assert answer_from_facts("Is the image not blurry?", blurred, True) == "no"
