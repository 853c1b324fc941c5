import json
import os

import pytest

from mmrag.errors import SourceFormatError
from mmrag.ingestion import sources
from tests.conftest import write_coco_corpus


def test_coco_groups_captions_per_image(tmp_path):
    path = write_coco_corpus(tmp_path, n=4)
    items = sources.coco(path)
    assert len(items) == 4
    assert all(len(it.captions) == 3 for it in items)
    assert items[0].path == tmp_path / "images" / "img_000.png"
    assert items[0].source == "coco" and items[0].extra["coco_id"] == 1


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid UTF-8 JSON"),
        (json.dumps({"images": []}), "'images' and 'annotations'"),
    ],
)
def test_coco_schema_errors_name_the_file_and_the_problem(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SourceFormatError, match=match) as e:
        sources.coco(path)
    assert "bad.json" in str(e.value)


def test_coco_missing_file(tmp_path):
    with pytest.raises(SourceFormatError, match="not found"):
        sources.coco(tmp_path / "nope.json")


def test_flickr_pipe_format_and_comma_format(tmp_path):
    (tmp_path / "a.csv").write_text("image_name| comment_number| comment\n1.jpg| 0| A dog runs.\n1.jpg| 1| A brown dog.\n2.jpg| 0| A cat.\n")
    items = sources.flickr(tmp_path / "a.csv")
    assert [(i.path.name, i.captions) for i in items] == [("1.jpg", ["A dog runs.", "A brown dog."]), ("2.jpg", ["A cat."])]
    (tmp_path / "b.csv").write_text('image,caption\nx.png,"A man, a plan."\n')
    items = sources.flickr(tmp_path / "b.csv", images_dir=tmp_path)
    assert items[0].captions == ["A man, a plan."] and items[0].path == tmp_path / "x.png"


def test_flickr_wrong_header(tmp_path):
    (tmp_path / "c.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(SourceFormatError, match=r"header is \['foo', 'bar'\]"):
        sources.flickr(tmp_path / "c.csv")


def test_folder_with_sidecar_captions(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jpg", "a.png", "sub/c.webp", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a.txt").write_text("first caption\n\nsecond caption\n")
    items = sources.folder(tmp_path)
    assert [i.path.name for i in items] == ["a.png", "b.jpg", "c.webp"]
    assert items[0].captions == ["first caption", "second caption"] and items[1].captions == []
    assert [i.path.name for i in sources.folder(tmp_path, recursive=False)] == ["a.png", "b.jpg"]


def test_bundled_kb_is_complete():
    items = sources.bundled_kb()
    assert len(items) >= 30
    for it in items:
        assert it.path.is_file(), it.path
        assert len(it.captions) == 5, it.path


# -- hostile source files: each bad row is rejected with where and why, the good rows are kept ---
def good_coco(tmp_path, images, annotations):
    (tmp_path / "images").mkdir(exist_ok=True)
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def test_coco_path_climbing_out_of_the_image_folder_is_rejected(tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    path = good_coco(
        tmp_path,
        [
            {"id": 1, "file_name": "../../../../../../../../../does_not_exist.jpg"},
            {"id": 2, "file_name": "/etc/hostname.jpg"},
            {"id": 3, "file_name": "link.jpg"},
            {"id": 4, "file_name": "ok.jpg"},
            {"id": 5, "file_name": "sub/../ok2.jpg"},
        ],
        [{"image_id": 4, "caption": "fine"}],
    )
    (tmp_path / "images" / "link.jpg").symlink_to(outside)  # a link inside the folder pointing out of it
    items = sources.coco(path)
    assert [i.path.name for i in items] == ["ok.jpg", "ok2.jpg"]
    assert all(i.root == (tmp_path / "images").resolve() for i in items)
    assert [w.split(": ")[-1].split(" ")[0] for w, _ in items.rejected] == ["images[0]", "images[1]", "images[2]"]
    assert all("leaves the source folder" in r for _, r in items.rejected)


def test_coco_ids_that_are_lists_or_objects_are_rejected_by_index(tmp_path):
    path = good_coco(
        tmp_path,
        [{"id": [1], "file_name": "a.jpg"}, {"id": {"x": 1}, "file_name": "b.jpg"}, {"id": True, "file_name": "t.jpg"}, {"id": 7, "file_name": "c.jpg"}, "nope"],
        [{"image_id": [1], "caption": "x"}, {"image_id": 7, "caption": "seven"}, {"image_id": 7, "caption": 3}, {"image_id": 7, "caption": "y" * 20_000}],
    )
    items = sources.coco(path)
    assert [(i.path.name, i.captions) for i in items] == [("c.jpg", ["seven"])]
    where = [w.rsplit(": ", 1)[-1].split(" ")[0] for w, _ in items.rejected]
    assert where == ["annotations[0]", "annotations[2]", "annotations[3]", "images[0]", "images[1]", "images[2]", "images[4]"]
    assert "over the limit" in dict(items.rejected)[f"{path}: annotations[3]"]


def test_flickr_hostile_rows_are_reported_by_line_and_the_rest_kept(tmp_path):
    big = "w" * 1_000_000
    rows = [
        b"image,caption",
        b"a.jpg,A dog.",
        b"b.jpg," + big.encode(),  # 1 MB caption: over csv's field limit
        "c.jpg,Caf\u00e9 au lait.".encode("latin-1"),  # not UTF-8
        b'd.jpg,"An unterminated quote',  # would swallow the rows below
        b"e.jpg,A cat.",
        b"f.jpg",  # too few fields
        b",no image name",
        b'g.jpg,"A man, a plan."',
    ]
    path = tmp_path / "x.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    items = sources.flickr(path)
    assert [(i.path.name, i.captions) for i in items] == [("a.jpg", ["A dog."]), ("e.jpg", ["A cat."]), ("g.jpg", ["A man, a plan."])]
    reasons = {int(w.rsplit("line ", 1)[1]): r for w, r in items.rejected}
    assert sorted(reasons) == [3, 4, 5, 7, 8]
    assert "field" in reasons[3] and "not valid UTF-8" in reasons[4] and "unterminated quote" in reasons[5]
    assert "field(s)" in reasons[7] and "no image name" in reasons[8]


def test_flickr_latin1_header_or_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(SourceFormatError, match="empty file"):
        sources.flickr(tmp_path / "empty.csv")


def test_flickr_name_climbing_out_is_rejected(tmp_path):
    (tmp_path / "x.csv").write_text("image,caption\n../../etc/x.jpg,A.\nok.jpg,B.\n")
    items = sources.flickr(tmp_path / "x.csv")
    assert [i.path.name for i in items] == ["ok.jpg"]
    assert "line 2" in items.rejected[0][0] and "leaves the source folder" in items.rejected[0][1]


def test_folder_bad_sidecars_reject_their_image_only(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a.txt").write_text("good caption\n")
    (tmp_path / "b.txt").write_bytes("Caf\u00e9\n".encode("latin-1"))
    (tmp_path / "c.txt").write_text("unreadable\n")
    (tmp_path / "c.txt").chmod(0)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jpg"
    outside.write_bytes(b"x")
    (tmp_path / "e.jpg").symlink_to(outside)
    try:
        items = sources.folder(tmp_path)
    finally:
        (tmp_path / "c.txt").chmod(0o644)
    names = [i.path.name for i in items]
    reasons = {w.rsplit("/", 1)[-1]: r for w, r in items.rejected}
    assert "a.jpg" in names and "d.jpg" in names and "b.jpg" not in names and "e.jpg" not in names
    assert "not valid UTF-8" in reasons["b.jpg"] and "leaves the source folder" in reasons["e.jpg"]
    if os.geteuid() != 0:  # root reads any file
        assert "c.jpg" not in names and "cannot read" in reasons["c.jpg"]


def test_empty_folder_gives_no_items_and_says_where(tmp_path):
    items = sources.folder(tmp_path)
    assert items == [] and items.rejected == [] and items.where == str(tmp_path)


def test_non_utf8_file_names_are_refused_readably_and_the_rest_kept(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as f:
        f.write(b"x")
    (tmp_path / "ok.jpg").write_bytes(b"x")
    items = sources.folder(tmp_path)
    assert [i.path.name for i in items] == ["ok.jpg"]
    ((where, reason),) = items.rejected
    assert where.endswith("caf\ufffd.jpg") and "not valid UTF-8" in reason
    where.encode("utf-8")  # printable: the report and the CLI can show it
