"""The Streamlit UI through Streamlit's AppTest (same process, real models, local Qdrant in a tmp dir),
plus the helpers it relies on: the image-root check, upload handling and the `mmrag ui` command."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmrag.config import Settings  # noqa: E402
from mmrag.errors import ImageLoadError  # noqa: E402
from mmrag.ui import APP_PATH  # noqa: E402
from mmrag.ui.roots import allowed_roots, bundled_kb_dir, bundled_queries_dir, is_under_roots, uploads_dir  # noqa: E402
from mmrag.ui.uploads import check_upload, safe_file_name, save_uploads  # noqa: E402
from tests.imagegen import make_rgb_image  # noqa: E402

TIMEOUT = 600  # the first caption loads every model; a busy 2-core machine is slow


def png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    make_rgb_image(seed, (80, 60)).save(buf, "PNG")
    return buf.getvalue()


# -- the image-root check ----------------------------------------------------------------------
def test_root_check_accepts_images_under_roots_only(tmp_path):
    root = tmp_path / "kb"
    (root / "sub").mkdir(parents=True)
    inside = root / "sub" / "a.jpg"
    inside.write_bytes(b"x")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    roots = [root]
    assert is_under_roots(inside, roots)
    assert is_under_roots(str(inside), roots)
    assert not is_under_roots(outside, roots)
    assert not is_under_roots(root / ".." / "secret.jpg", roots)  # `..` cannot climb out
    assert not is_under_roots("sub/a.jpg", roots)  # relative: depends on the server's cwd
    assert not is_under_roots("", roots)
    assert not is_under_roots("/etc/passwd", [Path("/")])  # not an image file name
    assert not is_under_roots(inside, [])
    link = root / "link.jpg"
    link.symlink_to(outside)  # a link inside a root that points out of it
    assert not is_under_roots(link, roots)
    (tmp_path / "kb2").mkdir()
    assert not is_under_roots(tmp_path / "kb2" / "a.jpg", roots)  # a sibling sharing the prefix


def test_allowed_roots_come_from_kb_home_settings_and_the_trusted_file_only(tmp_path):
    from mmrag.ingestion.roots import record_roots

    s = Settings(home=tmp_path, ui={"image_roots": [str(tmp_path / "coco"), "relative/dir"]})
    record_roots(tmp_path, "images", [tmp_path / "flickr"])
    record_roots(tmp_path, "other", [tmp_path / "elsewhere"])
    (tmp_path / "flickr").mkdir()
    roots = allowed_roots(s, "images")
    assert roots == [bundled_kb_dir(), tmp_path / "uploads", tmp_path / "coco", (tmp_path / "flickr").resolve()]
    assert allowed_roots(s) == roots[:3]  # no collection named: no recorded roots
    assert is_under_roots(bundled_kb_dir() / "images" / "robin.jpg", roots)
    assert not is_under_roots(bundled_queries_dir() / "demo.jpg", roots)  # queries are not KB images


# -- uploads -----------------------------------------------------------------------------------
def test_upload_names_cannot_escape_or_collide():
    a = safe_file_name("../../etc/cron.d/x.JPG", b"1")
    assert "/" not in a and a.endswith("-x.jpg")
    assert safe_file_name("page.html", b"1").endswith(".img")
    assert safe_file_name("x.jpg", b"1") != safe_file_name("x.jpg", b"2")
    assert safe_file_name("..", b"1").endswith("-image.img")


def test_uploads_are_size_limited_validated_and_stored(tmp_path):
    good = png_bytes(1)
    with pytest.raises(ImageLoadError, match="over the limit"):
        check_upload("big.png", good, max_bytes=len(good) - 1)
    saved = save_uploads(
        [("a.png", good, "A red square.\n\n A second caption "), ("bad.jpg", b"not an image", "x"), ("b.png", png_bytes(2), " ")],
        uploads_dir(Settings(home=tmp_path)),
        max_bytes=2**20,
    )
    (item,) = saved.items
    assert item.captions == ["A red square.", "A second caption"] and item.path.parent == tmp_path / "uploads"
    assert item.path.read_bytes() == good and item.path.with_suffix(".txt").read_text().splitlines() == item.captions
    reasons = dict(saved.rejected)
    assert "not a recognised image format" in reasons["bad.jpg"] and "no caption" in reasons["b.png"]


# -- `mmrag ui` --------------------------------------------------------------------------------
def test_ui_command_passes_global_options_through_env(tmp_path):
    from mmrag.cli import cli
    from mmrag.cli.ui import settings_env, streamlit_command

    env = settings_env(tmp_path / "c.yaml", {"profile": "hub", "qdrant": {"path": "/q", "collection": "pics"}})
    assert env == {
        "MMRAG_CONFIG": str(tmp_path / "c.yaml"),
        "MMRAG_PROFILE": "hub",
        "MMRAG_QDRANT__PATH": "/q",
        "MMRAG_QDRANT__COLLECTION": "pics",
    }
    cmd = streamlit_command("127.0.0.1", 8600, headless=True)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP_PATH)
    assert cmd[cmd.index("--server.port") + 1] == "8600" and cmd[cmd.index("--server.headless") + 1] == "true"
    r = CliRunner().invoke(cli, ["ui", "--help"])
    assert r.exit_code == 0 and all(o in r.output for o in ("--host", "--port", "--headless"))


# -- the app -----------------------------------------------------------------------------------
def ingest_test_poems(mm) -> None:
    """The chinese-poetry excerpts in tests/data as the app's poems collection (stored translations only)."""
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec
    from mmrag.ingestion.poetry import iter_poems

    spec = poem_spec(mm.text_encoder, mm.settings.poem.collection)
    data = Path(__file__).parent / "data" / "chinese_poetry"
    PoemIngestion(mm.text_encoder, mm.store, spec, batch_size=8).run(iter_poems(data, "default"), progress=False)


@pytest.fixture(scope="module")
def kb_qdrant(tmp_path_factory, session_home, encoders):
    """A local Qdrant folder holding the bundled KB and a few poems, shared by this module's app tests."""
    from mmrag.system import MMRag

    path = tmp_path_factory.mktemp("ui_store") / "qdrant"
    mm = MMRag(Settings(home=session_home, qdrant={"path": str(path)}), image_encoder=encoders[0], text_encoder=encoders[1])
    mm.ensure_knowledge_base(progress=False)
    ingest_test_poems(mm)
    mm.close()  # one client per local Qdrant folder: the app opens its own
    yield path
    from mmrag.ui.resources import _open

    _open.clear()  # closes the apps the UI cached (and the Qdrant folders they lock)


@pytest.fixture
def ui_env(kb_qdrant, session_home, monkeypatch):
    # The UI reads settings from the environment, as under `mmrag ui`. The working directory is
    # part of the app's cache key, so it is the same for every test here (one app, one store client).
    monkeypatch.chdir(kb_qdrant.parent)
    threads = os.environ.get("MMRAG_GENERATOR__THREADS")  # a shared machine's CPU budget is kept
    for k in [k for k in os.environ if k.startswith("MMRAG_")]:
        monkeypatch.delenv(k)
    if threads:
        monkeypatch.setenv("MMRAG_GENERATOR__THREADS", threads)
    monkeypatch.setenv("MMRAG_HOME", str(session_home))
    monkeypatch.setenv("MMRAG_QDRANT__PATH", str(kb_qdrant))
    # Tests on other stores must not have the Poem tab's first use (fetch poems, ingest the KB images)
    # running behind them; test_poem_tab_prepares_its_collection_in_the_background turns it on.
    monkeypatch.setenv("MMRAG_POEM__PREPARE", "false")
    return monkeypatch


def start_app() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Caption", "Ask", "Poem", "Search", "Knowledge base"]
    return at


def unescaped(markdown: str) -> str:
    """What escaped Markdown (mmrag.ui.safe_text.md) displays."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def wait_for_job(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Rerun (as a user clicking around would) until the page shows the background job's outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("finished" in a.value or "stopped" in a.value for a in [*at.success, *at.warning, *at.error]):
            return at
        time.sleep(0.5)
        at.run()
    raise AssertionError(f"no job outcome after {timeout}s: {[p.value for p in at.get('progress')]}")


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.slow
@pytest.mark.generator
def test_caption_tab_upload_shows_caption_and_how_it_was_made(ui_env):
    at = start_app()
    assert "ask a question" in at.tabs[1].info[0].value  # the Ask tab waits for a photo
    demo = (bundled_queries_dir() / "demo.jpg").read_bytes()
    at.file_uploader(key="caption_upload_0").upload("demo.jpg", demo, "image/jpeg")
    at.run()
    no_errors(at)
    caption = at.tabs[0].success[0].value
    assert 3 <= len(caption.split()) <= 40 and "\n" not in caption
    texts = [t.value for t in at.tabs[0].text]
    assert texts[0] == "demo.jpg" and len(at.tabs[0].image) == 1 + 5
    assert [t for t in texts if t.startswith("#1 ")][0].startswith("#1 leuven_street.jpg - score ")  # the same street
    assert {m.label for m in at.tabs[0].metric} >= {"encode", "retrieve", "prompt", "generate", "total"}
    (prompt,) = [e for e in at.tabs[0].expander if e.label.startswith("Prompt")]
    assert "cobble" in prompt.code[0].value.lower()  # a leuven_street caption went into the prompt
    assert any(t.value.startswith("Visual tags: ") for t in at.tabs[0].text)

    # A rerun with the same image reuses the result instead of generating again.
    at.run()
    assert at.tabs[0].success[0].value == caption

    # A bundled example: captioned too, with its hand-written reference captions beside it.
    at.radio(key="caption_source").set_value("Bundled example").run()
    assert at.selectbox(key="caption_example").value == "demo.jpg"
    no_errors(at)
    assert at.tabs[0].success[0].value == caption  # same bytes and top_k: the kept result
    assert any(e.label.startswith("Reference captions") for e in at.tabs[0].expander)


@pytest.mark.slow
def test_caption_tab_corrupt_upload_is_a_readable_error_and_leaves_the_uploader(ui_env):
    at = start_app()
    at.file_uploader(key="caption_upload_0").upload("broken.jpg", b"\xff\xd8\xff not really a jpeg", "image/jpeg")
    at.run()
    assert not at.exception
    (err,) = at.tabs[0].error
    assert "Cannot use this image" in err.value and "broken.jpg" in unescaped(err.value)
    assert not at.file_uploader(key="caption_upload_1").value  # a fresh, empty uploader
    at.run()  # the next rerun has nothing left to reject
    assert not at.tabs[0].error


@pytest.mark.slow
def test_caption_tab_on_an_empty_store_says_what_to_do(ui_env, tmp_path):
    ui_env.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "empty_qdrant"))
    at = start_app()
    at.file_uploader(key="caption_upload_0").upload("demo.jpg", (bundled_queries_dir() / "demo.jpg").read_bytes(), "image/jpeg")
    at.run()
    assert not at.exception
    assert "knowledge base is empty" in at.tabs[0].error[0].value
    assert "Knowledge base" in at.tabs[0].info[0].value
    assert "No collections yet" in at.tabs[-1].info[0].value


@pytest.mark.slow
def test_kb_tab_shows_store_and_ingests_bundled_and_uploaded_images(ui_env):
    at = start_app()
    kb = at.tabs[-1]
    (models, collections) = [d.value for d in kb.dataframe]
    assert list(models["model"]) == ["efficientnet-lite0", "use-m3", "qwen2.5-coder-0.5b-instruct"]
    before = int(collections.set_index("name").loc["images", "points"])
    assert before >= 40
    assert any(os.environ["MMRAG_QDRANT__PATH"] in t.value for t in kb.text)  # where data lives

    at.button(key="kb_ingest_bundled").click().run()
    at = wait_for_job(at)
    no_errors(at)
    assert "40 seen, 0 added, 40 already stored" in unescaped(at.tabs[-1].success[0].value)  # idempotent

    seed = int.from_bytes(os.urandom(2), "big")  # a new image every run: the store is per session
    at.file_uploader(key="kb_upload_0").set_value([("my photo.png", png_bytes(seed), "image/png")])
    at.run()
    at.text_area(key="kb_upload_0_caps_0").input("A colourful test pattern.\nA generated image.")
    at.button(key="kb_ingest_uploads").click().run()
    at = wait_for_job(at)
    no_errors(at)
    assert "1 seen, 1 added" in unescaped(at.tabs[-1].success[0].value)
    assert not at.file_uploader(key="kb_upload_1").value  # the ingested file left the uploader
    points = at.tabs[-1].dataframe[1].value.set_index("name").loc["images", "points"]
    assert int(points) == before + 1


@pytest.mark.slow
def test_kb_tab_lists_rejected_uploads_with_reasons(ui_env):
    at = start_app()
    at.file_uploader(key="kb_upload_0").set_value(
        [("broken.jpg", b"GIF89a but truncated", "image/jpeg"), ("nocaption.png", png_bytes(3), "image/png")]
    )
    at.run()
    at.text_area(key="kb_upload_0_caps_0").input("A caption for a broken file.")
    at.button(key="kb_ingest_uploads").click().run()
    at = wait_for_job(at)
    assert not at.exception
    kb = at.tabs[-1]
    assert "2 seen, 0 added" in unescaped(kb.warning[0].value) and "2 failed" in kb.warning[0].value  # every file counted once
    assert not at.file_uploader(key="kb_upload_1").value  # rejected files do not stay in the uploader
    rejected = kb.dataframe[-1].value.set_index("file")["reason"].to_dict()
    assert set(rejected) == {"broken.jpg", "nocaption.png"}
    assert "truncated or corrupt" in rejected["broken.jpg"] or "not a recognised" in rejected["broken.jpg"]
    assert "no caption" in rejected["nocaption.png"]


# -- Ask ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.generator
def test_ask_tab_answers_a_question_about_a_bundled_example(ui_env):
    at = start_app()
    at.radio(key="ask_source").set_value("Bundled example").run()
    assert "Type a question" in at.tabs[1].info[0].value
    at.text_input(key="ask_question").input("What is on the ground of this street?").run()
    no_errors(at)
    ask = at.tabs[1]
    assert ask.success[0].value.strip()
    texts = [t.value for t in ask.text]
    assert "demo.jpg" in texts and any(t.startswith("#1 ") and " - score " in t for t in texts)
    assert any(t.startswith("answered by: ") for t in texts)  # how the answer was made, as plain text
    assert {m.label for m in ask.metric} >= {"retrieve", "generate", "total"}
    (prompt,) = [e for e in ask.expander if e.label.startswith("Prompt")]
    assert "What is on the ground of this street?" in prompt.code[0].value


@pytest.mark.slow
def test_ask_tab_corrupt_upload_is_a_readable_error(ui_env):
    at = start_app()
    at.file_uploader(key="ask_upload_0").upload("broken.png", b"\x89PNG\r\n not really a png", "image/png")
    at.text_input(key="ask_question").input("What colour is it?").run()
    assert not at.exception
    (err,) = at.tabs[1].error
    assert "Cannot use this image" in err.value and "broken.png" in unescaped(err.value)


# -- Poem --------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.generator
def test_poem_tab_finds_lines_for_a_photo_and_the_users_words(ui_env):
    at = start_app()
    at.radio(key="poem_source").set_value("Bundled example")
    at.text_area(key="poem_words").input("春天的山水")
    at.run()
    no_errors(at)
    poem = at.tabs[2]
    assert poem.success[0].value.strip()
    assert any(t.value.startswith("——《") for t in poem.text)  # title and author under the lines
    assert any("Description of the photo" in t.value for t in poem.text)
    assert any(t.value.startswith("Ranked by: ") for t in poem.text)
    candidates = poem.dataframe[0].value
    assert len(candidates) >= 1 and {"title", "author", "score", "lines"} <= set(candidates.columns)
    assert "total" in {m.label for m in poem.metric}


@pytest.mark.slow
def test_poem_tab_without_a_poems_collection_says_how_to_get_one(ui_env, tmp_path):
    ui_env.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "no_poems_qdrant"))
    # first use tries to fetch the poems; with no npm on PATH it cannot, and says what to run instead
    ui_env.setenv("PATH", str(tmp_path / "no_npm"))
    at = start_app()
    assert not at.exception
    (err,) = at.tabs[2].error
    assert "mmrag data poems" in err.value and "mmrag ingest poems" in err.value


# -- Search ------------------------------------------------------------------------------------
def search_turn(at: AppTest, text: str) -> AppTest:
    at.chat_input(key="search_input").set_value(text).run()
    no_errors(at)
    return at


@pytest.mark.slow
@pytest.mark.generator
def test_search_tab_dialogue_asks_and_narrows_then_resets(ui_env):
    at = search_turn(start_app(), "a small bird with a red breast")
    search = at.tabs[3]
    assert search.chat_message[1].text[1].value.startswith("#1 ")
    roles = [m.name for m in search.chat_message]
    assert roles == ["user", "assistant", "assistant"]  # description, round 0, the system's question
    question = search.chat_message[-1].text[0].value
    assert question
    at = search_turn(at, "it sits on a branch")
    search = at.tabs[3]
    roles = [m.name for m in search.chat_message]
    assert roles[:5] == ["user", "assistant", "assistant", "user", "assistant"]  # ..., the answer, round 1
    assert search.chat_message[2].text[0].value == question
    assert sum(1 for t in search.text if t.value.startswith("#1 ")) == 2  # one grid per round
    at.button(key="search_reset").click().run()
    assert not at.tabs[3].chat_message and "Describe an image" in at.tabs[3].info[0].value


@pytest.mark.slow
def test_search_tab_without_questions_and_a_blank_description(ui_env):
    at = start_app()
    at.toggle(key="search_ask").set_value(False)
    at.chat_input(key="search_input").set_value("   ").run()
    assert not at.exception
    assert "non-empty description" in unescaped(at.tabs[3].error[0].value)
    at = search_turn(at, "a small bird with a red breast sitting on a branch")
    names = [t.value for t in at.tabs[3].text if " - score " in t.value]
    assert len(names) == 10 and names[0].startswith("#1 ")
    assert any("robin" in n for n in names[:5]), names
    at = search_turn(at, "orange chest feathers")  # no question asked: the detail is added and searched
    assert [m.name for m in at.tabs[3].chat_message] == ["user", "assistant", "user", "assistant"]


# -- hostile store content, long work across reruns, concurrency helpers ---------------------------
BEACON = "![x](http://127.0.0.1:8766/beacon.png)"
MARKDOWN_KINDS = ("markdown", "success", "info", "warning", "error", "caption", "subheader", "title")


def rendered_markdown(at: AppTest) -> list[str]:
    return [e.value for kind in MARKDOWN_KINDS for e in at.get(kind)]


@pytest.fixture
def hostile_store(tmp_path, session_home, encoders, ui_env):
    """A store whose payloads hold Markdown/HTML captions (an image whose file name is not UTF-8 is refused)."""
    from mmrag.system import MMRag
    from mmrag.ingestion import sources

    folder = tmp_path / "hostile"
    folder.mkdir()
    odd = os.fsencode(folder) + b"/caf\xe9.png"
    with open(odd, "wb") as f:
        f.write(png_bytes(11))
    for i in (12, 13):
        (folder / f"p{i}.png").write_bytes(png_bytes(i))
    (folder / "p12.txt").write_text(f"{BEACON} <img src=x onerror=alert(1)> :red[red] $x^2$\n")
    (folder / "p13.txt").write_text("**bold** [link](http://127.0.0.1:8766/13) number 13\n")
    path = tmp_path / "qdrant"
    with MMRag(Settings(home=session_home, qdrant={"path": str(path)}), image_encoder=encoders[0], text_encoder=encoders[1]) as mm:
        report = mm.ingest(sources.folder(folder), progress=False)
        assert report.added == 2 and "not valid UTF-8" in report.failed[0][1], report.summary()
    ui_env.setenv("MMRAG_QDRANT__PATH", str(path))
    return folder


@pytest.mark.slow
@pytest.mark.generator
def test_store_content_is_shown_as_text_never_as_markdown(hostile_store):
    at = start_app()
    at.file_uploader(key="caption_upload_0").upload("q.png", png_bytes(11), "image/png")
    at.run()
    assert not at.exception and not at.tabs[0].error, [e.value for e in at.error]
    texts = [t.value for t in at.tabs[0].text]
    assert any(BEACON in t and "<img src=x" in t for t in texts), texts  # the caption, literally
    assert len(at.tabs[0].image) == 1 + 2  # the query and both neighbours
    for value in rendered_markdown(at):  # nothing from the store reaches Markdown unescaped
        assert "](http" not in value and "<img" not in value and ":red[" not in value, value


@pytest.mark.slow
def test_ingestion_in_the_ui_survives_reruns_and_reports_at_the_end(ui_env, tmp_path):
    ui_env.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "fresh_qdrant"))
    at = start_app()
    at.button(key="kb_ingest_bundled").click().run()
    assert not at.exception
    # the user clicks elsewhere while it runs: each of these is a new script run
    at.slider(key="caption_top_k").set_value(3).run()
    at.radio(key="caption_source").set_value("Bundled example").run()
    at = wait_for_job(at)
    assert not at.exception and not at.tabs[-1].error  # (the Poem tab says this store has no poems)
    assert "40 seen, 40 added, 0 already stored, 0 failed" in unescaped(at.tabs[-1].success[0].value)
    points = at.tabs[-1].dataframe[1].value.set_index("name").loc["images", "points"]
    assert int(points) == 40


def test_background_jobs_run_once_per_key_and_keep_their_outcome():
    import threading

    from mmrag.ui.jobs import Jobs

    jobs, gate = Jobs(), threading.Event()

    def work(progress):
        progress(1, 2)
        gate.wait(10)
        progress(2, 2)
        return "ok"

    a = jobs.start("k", "Work", 2, work)
    b = jobs.start("k", "Work", 2, lambda p: "second")  # joins the running one
    assert a is b and a.running and jobs.running() == [a]
    gate.set()
    assert a.wait(10) and a.state == "done" and a.result == "ok" and (a.done, a.total) == (2, 2)
    failed = jobs.start("bad", "Bad", 0, lambda p: 1 / 0)
    assert failed.wait(10) and failed.state == "failed" and "ZeroDivisionError" in failed.error
    again = jobs.start("k", "Work", 0, lambda p: "again")  # a finished key starts afresh
    assert again is not a and again.wait(10) and again.result == "again"


def test_a_local_store_is_serialised_and_a_server_store_is_not(tmp_path):
    from mmrag.ui.resources import SerialisedStore, open_backend

    backend = open_backend(Settings(home=tmp_path, qdrant={"path": ":memory:"}))
    store = backend.app.store
    assert isinstance(store, SerialisedStore) and store is backend.store and not store.exists("images")
    held = []

    class Probe:  # a store method that records whether the backend's lock is held while it runs
        def call(self):
            held.append(backend.lock._is_owned())

        def points(self):
            yield backend.lock._is_owned()

    probe = SerialisedStore(Probe(), backend.lock)
    probe.call()
    assert held == [True] and list(probe.points()) == [True] and not backend.lock._is_owned()
    server = open_backend(Settings(home=tmp_path, qdrant={"url": "http://127.0.0.1:9"}))
    assert server.store is None and "store" not in server.app.built  # not opened, not wrapped: a server is thread-safe
    backend.close()
    assert not store.opened  # the backend closed the store it gave its app


def test_markdown_escaping_leaves_nothing_to_render():
    from mmrag.ui.safe_text import md, plain

    assert md(BEACON) == r"\!\[x\]\(http\:\/\/127\.0\.0\.1\:8766\/beacon\.png\)"
    assert md("<b>x</b>\n# h") == r"\<b\>x\<\/b\>  " + "\n" + r"\# h"
    assert md("a\nb", one_line=True) == "a b"
    assert plain("caf\udce9.jpg") == "caf\ufffd.jpg"


def test_a_payload_path_that_is_not_utf8_is_labelled_readably(tmp_path):
    """Stores written by older versions can hold such paths; the label must still encode (it did not)."""
    from mmrag.schema import Hit
    from mmrag.ui.views import hit_label

    h = Hit(id="1", score=0.5, image_path=str(tmp_path) + "/caf\udce9.png", captions=[])
    label = hit_label(1, h)
    assert label == "#1 caf\ufffd.png - score 0.5000"
    label.encode("utf-8")


@pytest.mark.slow
def test_poem_tab_prepares_its_collection_in_the_background(ui_env, tmp_path):
    ui_env.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "no_poems_yet"))
    ui_env.setenv("MMRAG_POEM__PREPARE", "true")
    at = start_app()
    assert not at.exception
    assert "First use" in at.tabs[2].info[0].value  # the page is drawn at once; the work runs beside it
    assert at.button(key="kb_ingest_bundled")  # the tabs after Poem are drawn too
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not at.tabs[2].get("radio"):
        time.sleep(1)
        at.run()  # the user's clicks elsewhere: reruns do not stop it
    assert not at.exception and not at.tabs[2].error, [e.value for e in at.tabs[2].error]
    assert at.radio(key="poem_source")  # the tab is ready: its photo picker is there
