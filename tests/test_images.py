"""mmrag.images: odd-but-valid images come out RGB; bad ones raise ImageLoadError with a reason."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from mmrag.errors import ImageLoadError
from mmrag.images import DEFAULT_MAX_PIXELS, decode_image, load_image, read_bytes
from tests.imagegen import (
    BAD_REASONS,
    EXPECTED_SIZE,
    GOOD_CASES,
    ODD_SIZE,
    make_rgb_image,
    write_odd_images,
)


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("odd_images")
    cases = write_odd_images(directory)
    assert cases == {**dict.fromkeys(GOOD_CASES, True), **dict.fromkeys(BAD_REASONS, False)}
    return directory


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


@pytest.mark.parametrize("name", GOOD_CASES)
def test_good_case_loads_as_rgb(odd_dir: Path, name: str) -> None:
    img = load_image(odd_dir / name)
    assert img.mode == "RGB"
    assert img.size == EXPECTED_SIZE.get(name, ODD_SIZE)
    assert _pixels(img).shape == (img.height, img.width, 3)  # pixels really decoded


@pytest.mark.parametrize("name", sorted(BAD_REASONS))
def test_bad_case_raises_with_path_and_reason(odd_dir: Path, name: str) -> None:
    path = odd_dir / name
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message
    assert BAD_REASONS[name] in message
    assert info.value.path == path


def test_sixteen_bit_grey_keeps_its_dynamic_range(odd_dir: Path) -> None:
    raw = Image.open(odd_dir / "grey16.png")
    assert raw.mode.startswith("I")  # the fixture really is a wide greyscale image
    px = _pixels(load_image(odd_dir / "grey16.png"))
    assert px.min() <= 5 and px.max() >= 250  # 1000..3000 stretched, not clipped to white
    assert len(np.unique(px)) > 20
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()
    assert (np.diff(px[0, :, 0]) >= 0).all()  # the left-to-right ramp survives in order


def test_float_grey_is_stretched(odd_dir: Path) -> None:
    px = _pixels(load_image(odd_dir / "float32.tif"))
    assert px.min() == 0 and px.max() == 255


def test_flat_sixteen_bit_image_does_not_divide_by_zero() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((5, 7), 1234, dtype=np.uint16)).save(buf, "PNG")
    img = decode_image(buf.getvalue())
    assert img.mode == "RGB" and img.size == (7, 5)
    assert len(np.unique(_pixels(img))) == 1


@pytest.mark.parametrize("name", ["rgba.png", "la.png"])
def test_transparent_pixels_become_white(odd_dir: Path, name: str) -> None:
    px = _pixels(load_image(odd_dir / name))
    assert (px[:, 0] == 255).all()  # column 0 has alpha 0
    assert (px[:, -1] < 255).any()  # opaque column keeps its colour


def test_palette_transparency_becomes_white(odd_dir: Path) -> None:
    indices = np.asarray(Image.open(odd_dir / "palette_transparent.png"))
    transparent = indices == 0
    assert transparent.any() and not transparent.all()
    px = _pixels(load_image(odd_dir / "palette_transparent.png"))
    assert (px[transparent] == 255).all()


@pytest.mark.parametrize("name", ["animated.png", "multipage.tif"])
def test_multi_frame_gives_first_frame(odd_dir: Path, name: str) -> None:
    # lossless formats: the first frame is exactly make_rgb_image(2)
    expected = _pixels(make_rgb_image(2, ODD_SIZE))
    np.testing.assert_array_equal(_pixels(load_image(odd_dir / name)), expected)


def test_animated_gif_gives_first_frame(odd_dir: Path) -> None:
    frame0 = _pixels(make_rgb_image(2, ODD_SIZE))
    frame1 = _pixels(make_rgb_image(3, ODD_SIZE))
    px = _pixels(load_image(odd_dir / "animated.gif"))  # GIF quantises, so compare by distance
    assert np.abs(px - frame0).mean() < np.abs(px - frame1).mean() / 3


def test_exif_orientation_is_applied(odd_dir: Path) -> None:
    px = _pixels(load_image(odd_dir / "exif_rotated.jpg"))
    base = make_rgb_image(1, ODD_SIZE)
    rotated = _pixels(base.transpose(Image.Transpose.ROTATE_270))  # orientation 6: 90 deg clockwise
    wrong_way = _pixels(base.transpose(Image.Transpose.ROTATE_90))
    assert np.abs(px - rotated).mean() < 10
    assert np.abs(px - rotated).mean() < np.abs(px - wrong_way).mean() / 2


@pytest.mark.parametrize("name", ["cmyk.jpg", "ycbcr.jpg", "lab.tif", "rgb.jpg"])
def test_colour_spaces_come_back_close_to_the_original(odd_dir: Path, name: str) -> None:
    px = _pixels(load_image(odd_dir / name))
    assert np.abs(px - _pixels(make_rgb_image(1, ODD_SIZE))).mean() < 12


def test_bomb_messages_carry_pixel_counts(odd_dir: Path) -> None:
    for name, count in [("bomb_8000x8000.png", "64000000"), ("bomb_20000x20000.png", "400000000")]:
        with pytest.raises(ImageLoadError, match=count):
            load_image(odd_dir / name)


def test_bomb_check_respects_max_pixels(odd_dir: Path) -> None:
    data = read_bytes(odd_dir / "rgb.jpg")
    with pytest.raises(ImageLoadError, match=r"decompression bomb.*1200 pixels"):
        decode_image(data, where="small.jpg", max_pixels=1000)
    assert decode_image(data, max_pixels=1200).size == ODD_SIZE


def test_globals_untouched_and_no_bomb_warning_leaks(odd_dir: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in [*GOOD_CASES, *BAD_REASONS]:
            try:
                load_image(odd_dir / name)
            except ImageLoadError:
                pass
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    assert after == before
    assert DEFAULT_MAX_PIXELS < Image.MAX_IMAGE_PIXELS


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageLoadError, match="file not found") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="directory") as info:
        load_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_file_over_max_bytes(odd_dir: Path) -> None:
    with pytest.raises(ImageLoadError, match="over the limit of 100 bytes"):
        load_image(odd_dir / "rgb.jpg", max_bytes=100)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.jpg"
    make_rgb_image(0).save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageLoadError, match="permission denied"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_decode_bytes_names_the_source() -> None:
    with pytest.raises(ImageLoadError, match=r"^<bytes>: not a recognised image format"):
        decode_image(b"definitely not an image")
    with pytest.raises(ImageLoadError, match=r"^upload\.png: empty"):
        decode_image(b"", where="upload.png")


def test_make_rgb_image_is_deterministic_and_distinct() -> None:
    a, b = make_rgb_image(5), make_rgb_image(5)
    assert a.mode == "RGB" and a.size == (64, 64)
    np.testing.assert_array_equal(_pixels(a), _pixels(b))
    others = [_pixels(make_rgb_image(s)) for s in range(6)]
    for i in range(len(others)):
        for j in range(i + 1, len(others)):
            assert np.abs(others[i] - others[j]).mean() > 10
    assert make_rgb_image(1, size=(32, 16)).size == (32, 16)
