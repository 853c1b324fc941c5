#!/usr/bin/env python3
"""Re-create the bundled knowledge-base and query photos of mmrag, then check them.

The photos under ``mmrag/data/kb/images/`` and ``mmrag/data/queries/`` are real,
redistributable photos taken from packages that install offline:

* scikit-image ``skimage.data`` (the photos that ship inside the wheel),
* scikit-learn ``sklearn.datasets.load_sample_images()`` (china.jpg, flower.jpg),
* matplotlib ``matplotlib.cbook.get_sample_data('grace_hopper.jpg')``,
* the Debian package ``opencv-doc`` (``/usr/share/doc/opencv-doc/examples/...``),
* the Debian wallpaper packages ``lomiri-wallpapers-16.04``, ``lomiri-wallpapers-20.04`` and
  ``mate-backgrounds`` (query photos only; see docs/photos.md). They need not be installed:
  ``apt-get download NAME && dpkg -x NAME_*.deb $MMRAG_DEB_ROOT/NAME`` (default root /tmp/mmrag-debs).

Run it with the *system* Python (not the project's venv) after::

    python3 -m pip install scikit-image scikit-learn matplotlib
    apt-get install -y opencv-doc
    python3 scripts/build_kb.py            # rebuild images, then verify
    python3 scripts/build_kb.py --check    # verify only, touch nothing

Every photo is converted to RGB, shrunk so that its longest side is at most
512 px (never enlarged) and saved as JPEG, quality 85.

The captions are NOT generated here: ``mmrag/data/kb/captions_train2017.json`` and
``mmrag/data/queries/captions.json`` are written by hand (COCO captions format, five
captions per image) and this script only reads them. It checks that every
``file_name`` they list exists, that its width/height and ``source`` match, that each
image has exactly five captions and that no photo on disk is missing from them.
Licences and credits are in ``mmrag/data/kb/LICENSES.md``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
# Unpacked (not installed) Debian packages: <root>/<package>/<path inside the package>.
DEB_ROOT = Path(os.environ.get("MMRAG_DEB_ROOT", "/tmp/mmrag-debs"))
MAX_SIDE = 512
JPEG_QUALITY = 85
CAPTIONS_PER_IMAGE = 5


@dataclass(frozen=True)
class Photo:
    split: str  # "kb" or "queries"
    file_name: str
    source: str  # also the "source" field of the image record in the captions json
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in source px


# file_name -> source. Source ids:
#   skimage.data.<func>[<index>]          a loader of skimage.data ([i] picks from a tuple)
#   sklearn.datasets.load_sample_images:<name>
#   matplotlib.cbook.get_sample_data:<name>
#   opencv-doc:<path under /usr/share/doc/opencv-doc>
#   deb:<package>:<path inside the package>  (installed, or unpacked under DEB_ROOT/<package>)
PHOTOS: tuple[Photo, ...] = (
    # --- knowledge base -------------------------------------------------------------
    Photo("kb", "astronaut_eileen_collins.jpg", "skimage.data.astronaut"),
    Photo("kb", "cameraman.jpg", "skimage.data.camera"),
    Photo("kb", "cat_chelsea.jpg", "skimage.data.chelsea"),
    Photo("kb", "coffee_cup.jpg", "skimage.data.coffee"),
    Photo("kb", "hubble_deep_field.jpg", "skimage.data.hubble_deep_field"),
    Photo("kb", "rocket_launch.jpg", "skimage.data.rocket"),
    Photo("kb", "motorcycle.jpg", "skimage.data.stereo_motorcycle[0]"),
    Photo("kb", "greek_coins.jpg", "skimage.data.coins"),
    Photo("kb", "retina_fundus.jpg", "skimage.data.retina"),
    Photo("kb", "brick_wall.jpg", "skimage.data.brick"),
    Photo("kb", "grass.jpg", "skimage.data.grass"),
    Photo("kb", "temple_china.jpg", "sklearn.datasets.load_sample_images:china.jpg"),
    Photo("kb", "flower_dahlia.jpg", "sklearn.datasets.load_sample_images:flower.jpg"),
    Photo("kb", "grace_hopper.jpg", "matplotlib.cbook.get_sample_data:grace_hopper.jpg"),
    Photo("kb", "aerial_city.jpg", "opencv-doc:examples/data/aero1.jpg"),
    Photo("kb", "aloe_plant.jpg", "opencv-doc:examples/data/aloeL.jpg"),
    Photo("kb", "basketball_players.jpg", "opencv-doc:examples/data/basketball1.png"),
    Photo("kb", "circuit_board.jpg", "opencv-doc:examples/data/board.jpg"),
    Photo("kb", "grocery_boxes_on_chair.jpg", "opencv-doc:examples/data/box_in_scene.png"),
    Photo("kb", "office_building.jpg", "opencv-doc:examples/data/building.jpg"),
    Photo("kb", "butterfly_on_leaf.jpg", "opencv-doc:examples/data/butterfly.jpg"),
    Photo("kb", "small_dog.jpg", "opencv-doc:examples/data/chicky_512.png"),
    Photo("kb", "notebook_elastic_band.jpg", "opencv-doc:examples/data/ela_original.jpg"),
    Photo("kb", "citrus_fruits.jpg", "opencv-doc:examples/data/fruits.jpg"),
    Photo("kb", "palace_with_birds.jpg", "opencv-doc:examples/data/home.jpg"),
    Photo("kb", "books_on_floor.jpg", "opencv-doc:examples/data/left.jpg"),
    Photo("kb", "leuven_street.jpg", "opencv-doc:examples/data/leuvenA.jpg"),
    Photo("kb", "car_motion_blur.jpg", "opencv-doc:examples/data/licenseplate_motion.jpg"),
    Photo("kb", "toys_rubber_whale.jpg", "opencv-doc:examples/data/rubberwhale1.png"),
    Photo("kb", "candies.jpg", "opencv-doc:examples/data/smarties.png"),
    Photo("kb", "squirrel.jpg", "opencv-doc:examples/data/squirrel_cls.jpg"),
    Photo("kb", "desk_objects.jpg", "opencv-doc:examples/data/stuff.jpg"),
    Photo("kb", "potted_plant.jpg", "opencv-doc:examples/alphamat/input_images/plant.jpg"),
    # the first row of reg/home.png has its green channel zeroed (a purple line): cut it
    Photo("kb", "brick_house.jpg", "opencv-doc:examples/reg/home.png", crop=(0, 1, 256, 256)),
    Photo("kb", "robin.jpg", "opencv-doc:examples/hfs/data/000.jpg"),
    Photo("kb", "lake.jpg", "opencv-doc:examples/hfs/data/001.jpg"),
    Photo("kb", "tree_in_field.jpg", "opencv-doc:examples/hfs/data/002.jpg"),
    Photo("kb", "parking_sign.jpg", "opencv-doc:examples/text/scenetext01.jpg"),
    Photo("kb", "sports_centre_sign.jpg", "opencv-doc:examples/text/scenetext02.jpg"),
    Photo("kb", "yellow_shop_corner.jpg", "opencv-doc:examples/text/scenetext06.jpg"),
    # --- query images (not in the knowledge base) --------------------------------------
    Photo("queries", "demo.jpg", "opencv-doc:examples/data/leuvenB.jpg"),
    Photo("queries", "aerial_coast_city.jpg", "opencv-doc:examples/data/aero3.jpg"),
    Photo("queries", "butterfly_wing.jpg", "opencv-doc:examples/dnn_superres/butterfly.png"),
    Photo("queries", "no_parking_barriers.jpg", "opencv-doc:examples/text/scenetext05.jpg"),
    # Debian wallpaper packages (issue 14 item 5; licences in mmrag/data/kb/LICENSES.md)
    Photo("queries", "dandelion_seed_heads.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg"),
    Photo("queries", "two_dogs_at_window.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg"),
    Photo("queries", "fig_in_red_bowl.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/Picture_0B_by_freespace.jpg"),
    Photo("queries", "paint_brushes.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/Picture_1A_by_freespace.jpg"),
    Photo("queries", "mountain_path_snow.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg"),
    Photo("queries", "forest_stream.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg"),
    Photo("queries", "mountain_sunset.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg"),
    Photo("queries", "autumn_mountain_meadow.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"),
    Photo("queries", "drum_on_beanbag.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg"),
    Photo("queries", "dragonfly_on_twig.jpg", "deb:lomiri-wallpapers-16.04:usr/share/backgrounds/Dragonfly_by_Bolly.jpg"),
    Photo("queries", "nuthatch_on_trunk.jpg", "deb:lomiri-wallpapers-20.04:usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"),
    Photo("queries", "ladybird_on_grass.jpg", "deb:mate-backgrounds:usr/share/backgrounds/mate/nature/LadyBird.jpg"),
    Photo("queries", "storm_over_road.jpg", "deb:mate-backgrounds:usr/share/backgrounds/mate/nature/Storm.jpg"),
)

SPLITS = {
    "kb": ("mmrag/data/kb/images", "mmrag/data/kb/captions_train2017.json"),
    "queries": ("mmrag/data/queries", "mmrag/data/queries/captions.json"),
}


def load_source(source: str):
    """Return the source photo as a PIL image."""
    import numpy as np
    from PIL import Image

    if source.startswith("skimage.data."):
        import skimage.data

        name, index = source[len("skimage.data."):], None
        if name.endswith("]"):
            name, _, idx = name[:-1].partition("[")
            index = int(idx)
        arr = getattr(skimage.data, name)()
        if index is not None:
            arr = arr[index]
        arr = np.asarray(arr)
        if arr.dtype != np.uint8:
            raise ValueError(f"{source}: expected uint8 pixels, got {arr.dtype}")
        return Image.fromarray(arr)
    if source.startswith("sklearn.datasets.load_sample_images:"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(source.split(":", 1)[1]))
    if source.startswith("matplotlib.cbook.get_sample_data:"):
        from matplotlib import cbook

        path = cbook.get_sample_data(source.split(":", 1)[1], asfileobj=False)
        return Image.open(path)
    if source.startswith("opencv-doc:"):
        path = OPENCV_DOC / source.split(":", 1)[1]
        if path.exists():
            return Image.open(path)
        gz = path.with_name(path.name + ".gz")
        if gz.exists():
            return Image.open(io.BytesIO(gzip.decompress(gz.read_bytes())))
        raise FileNotFoundError(f"{path} not found: apt-get install -y opencv-doc")
    if source.startswith("deb:"):
        _, package, inner = source.split(":", 2)
        for path in (Path("/") / inner, DEB_ROOT / package / inner):
            if path.exists():
                return Image.open(path)
        raise FileNotFoundError(f"{inner} of {package} not found: apt-get download {package} && "
                                f"dpkg -x {package}_*.deb {DEB_ROOT / package}")
    raise ValueError(f"unknown source {source!r}")


def to_rgb(img):
    from PIL import Image

    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def build_one(photo: Photo, root: Path) -> Path:
    from PIL import Image

    img = to_rgb(load_source(photo.source))
    if photo.crop is not None:
        img = img.crop(photo.crop)
    scale = MAX_SIDE / max(img.size)
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.LANCZOS)
    out = root / SPLITS[photo.split][0] / photo.file_name
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out


def verify(root: Path) -> list[str]:
    """Check captions json files against the photos on disk; return a list of problems."""
    from PIL import Image

    problems: list[str] = []
    table = {(p.split, p.file_name): p for p in PHOTOS}
    for split, (image_dir, caption_json) in SPLITS.items():
        path = root / caption_json
        if not path.exists():
            problems.append(f"{caption_json}: missing")
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(f"{caption_json}: invalid JSON ({exc})")
            continue
        for key in ("info", "licenses", "images", "annotations"):
            if key not in data:
                problems.append(f"{caption_json}: no {key!r} key")
        licence_ids = {lic["id"] for lic in data.get("licenses", [])}
        images = data.get("images", [])
        anns = data.get("annotations", [])
        ids = [im["id"] for im in images]
        if len(ids) != len(set(ids)):
            problems.append(f"{caption_json}: duplicate image ids")
        ann_ids = [a["id"] for a in anns]
        if len(ann_ids) != len(set(ann_ids)):
            problems.append(f"{caption_json}: duplicate annotation ids")
        per_image = Counter(a["image_id"] for a in anns)
        for a in anns:
            if a["image_id"] not in set(ids):
                problems.append(f"{caption_json}: annotation {a['id']} for unknown image")
            if not isinstance(a.get("caption"), str) or not a["caption"].strip():
                problems.append(f"{caption_json}: annotation {a['id']} has no caption")
        listed = set()
        for im in images:
            name = im["file_name"]
            listed.add(name)
            file = root / image_dir / name
            if not file.exists():
                problems.append(f"{caption_json}: {name} not found in {image_dir}")
                continue
            with Image.open(file) as img:
                if (img.width, img.height) != (im["width"], im["height"]):
                    problems.append(f"{name}: json says {im['width']}x{im['height']}, "
                                    f"file is {img.width}x{img.height}")
                if img.mode != "RGB" or img.format != "JPEG" or max(img.size) > MAX_SIDE:
                    problems.append(f"{name}: not an RGB JPEG of at most {MAX_SIDE} px")
            if per_image[im["id"]] != CAPTIONS_PER_IMAGE:
                problems.append(f"{name}: {per_image[im['id']]} captions, "
                                f"want {CAPTIONS_PER_IMAGE}")
            if im.get("license") not in licence_ids:
                problems.append(f"{name}: licence id {im.get('license')} not in 'licenses'")
            entry = table.get((split, name))
            if entry is None:
                problems.append(f"{name}: not in the PHOTOS table of build_kb.py")
            elif entry.source != im.get("source"):
                problems.append(f"{name}: json source {im.get('source')!r} != "
                                f"table source {entry.source!r}")
        on_disk = {p.name for p in (root / image_dir).glob("*.jpg")}
        for stray in sorted(on_disk - listed):
            problems.append(f"{image_dir}/{stray}: on disk but not in {caption_json}")
        for (s, name) in table:
            if s == split and name not in listed:
                problems.append(f"{name}: in the PHOTOS table but not in {caption_json}")
        print(f"{caption_json}: {len(images)} images, {len(anns)} captions")
    return problems


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Re-create mmrag's bundled knowledge-base and query photos from "
        "scikit-image, scikit-learn, matplotlib and Debian opencv-doc, then verify them "
        "against the hand-written COCO captions json files (which are never rewritten).")
    parser.add_argument("--root", type=Path, default=REPO,
                        help="repository root (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="only verify the existing files; build nothing")
    parser.add_argument("--only", action="append", metavar="FILE_NAME", default=None,
                        help="rebuild only this file name (repeatable)")
    args = parser.parse_args(argv)

    if not args.check:
        todo = [p for p in PHOTOS if args.only is None or p.file_name in args.only]
        if args.only and len(todo) != len(set(args.only)):
            parser.error(f"unknown file name in --only: {args.only}")
        for photo in todo:
            out = build_one(photo, args.root)
            print(f"built {out.relative_to(args.root)}  <- {photo.source}")

    problems = verify(args.root)
    data_dir = args.root / "mmrag/data"
    print(f"mmrag/data total size: {dir_size(data_dir) / 1e6:.2f} MB")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
