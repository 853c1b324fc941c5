import json

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
        ("{not json", "not valid JSON"),
        (json.dumps({"images": []}), "'images' and 'annotations'"),
        (json.dumps({"images": [{"id": 1}], "annotations": []}), r"images\[0\] needs 'id' and 'file_name'"),
        (json.dumps({"images": [], "annotations": [{"image_id": 1}]}), r"annotations\[0\]"),
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
