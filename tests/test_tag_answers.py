"""The ImageNet lexicon and the answers read from tags: constructed tag lists and questions, no model."""

from __future__ import annotations

import pytest

from mmrag.config import GroundingSettings
from mmrag.embedding.clip_base import imagenet_class_names
from mmrag.generation import tag_answers as ta
from mmrag.generation.grounded_answers import answer_from_tags, material_from_captions, supported_by
from mmrag.schema import Hit


@pytest.fixture(scope="module")
def lex():
    return ta.default_lexicon()


def test_the_lexicon_covers_the_imagenet_ranges_with_basic_level_words(lex):
    classes = list(imagenet_class_names())
    assert len(classes) == 1000
    # every animal class (0-397) is an animal; dogs, cats, birds and butterflies have their basic word
    assert all("animal" in lex.words_for(c) for c in classes[:398])
    assert {lex.basic(c) for c in classes[151:269]} == {"dog"}
    assert {lex.basic(c) for c in classes[281:286]} == {"cat"}
    assert lex.basic("robin") == lex.basic("brambling") == lex.basic("bald eagle") == "bird"
    assert lex.basic("monarch") == "butterfly" and "insect" in lex.words_for("monarch")
    assert lex.basic("dragonfly") == "dragonfly" and "insect" in lex.words_for("dragonfly")  # no basic word above its own name
    assert lex.basic("cab") == "car" and "vehicle" in lex.words_for("cab")
    assert lex.basic("lemon") == "lemon" and "fruit" in lex.words_for("lemon")
    assert "instrument" in lex.words_for("drum") and "building" in lex.words_for("palace")
    assert "animal" not in lex.words_for("cab") and "fruit" not in lex.words_for("robin")


def test_parse_lexicon_rejects_unknown_class_names():
    with pytest.raises(ValueError, match="unknown ImageNet classes"):
        ta.parse_lexicon({"groups": [{"word": "x", "classes": [["no such class"]]}]}, ["a", "b"])
    lex = ta.parse_lexicon({"groups": [{"word": "pet", "is_a": ["animal"], "classes": [[0, 1]]}]}, ["a", "b", "c"])
    assert lex.basic("a") == "pet" and lex.words_for("b") == {"b", "pet", "animal"} and lex.basic("c") == "c"


@pytest.mark.parametrize(
    "question, focus",
    [
        ("What animal is this?", "animal"),
        ("What animals are in the window?", "animal"),
        ("What kind of building is this?", "building"),
        ("What fruit is in the bowl?", "fruit"),
        ("Which insect is shown?", "insect"),
        ("What is this?", ""),
        ("What are these?", ""),
        ("What is in the photo?", ""),
        ("What is the house made of?", None),
        ("What color is the car?", None),
        ("What objects are on the floor?", None),  # not a category the lexicon knows
        ("What is the squirrel sitting on?", None),
    ],
)
def test_question_focus(question, focus):
    assert ta.question_focus(question) == focus


def test_what_answers_pool_the_tags_of_one_category():
    finches = {"brambling": 0.53, "goldfinch": 0.12, "indigo bunting": 0.05, "house finch": 0.01, "junco": 0.01}
    assert ta.what_answer("What animal is this?", finches) == "bird"
    assert ta.what_answer("What bird is this?", finches) == "brambling"  # the focus is the basic word: the tag's own name
    assert ta.what_answer("What is this?", finches) == "bird"
    spaniels = {"cocker spaniel": 0.2, "Sussex spaniel": 0.19, "Welsh springer spaniel": 0.15, "Irish setter": 0.11, "clumber": 0.04}
    assert ta.what_answer("What animals are these?", spaniels) == "dog"  # no single tag is sure, the dogs together are
    butterflies = {"monarch": 0.45, "admiral": 0.23, "ringlet": 0.09}
    assert ta.what_answer("What insect is this?", butterflies) == "butterfly"
    assert ta.what_answer("What animal is this?", butterflies) == "butterfly"
    mixed = {"modem": 0.3, "tabby": 0.25}
    assert ta.what_answer("What animal is this?", mixed) == "cat"  # the focus filters the tags
    assert ta.what_answer("What is this?", mixed) == "modem"


def test_what_answers_need_confident_tags():
    weak = {"wooden spoon": 0.11, "mortar": 0.06, "soup bowl": 0.05, "spatula": 0.04, "orange": 0.03}
    assert ta.what_answer("What fruit is in the bowl?", weak) is None
    assert ta.what_answer("What fruit is in the bowl?", weak, min_mass=0.02) == "orange"
    assert ta.what_answer("What vehicle is this?", {"tabby": 0.9}) is None
    assert ta.what_answer("What is this?", {}) is None
    assert ta.what_answer("What is the cat doing?", {"tabby": 0.9}) is None


def test_presence_from_tags_groups_names_and_evidence():
    assert ta.presence_subject("Are there any cars in the street?") == "cars"
    assert ta.presence_subject("Is there a kiwi in this photo?") == "kiwi"
    assert ta.presence_subject("Is the dog sleeping?") is None
    assert ta.presence("Is there a bird?", {"robin": 0.5})[1] == pytest.approx(0.5)
    assert ta.presence("Are there any cars?", {"cab": 0.4, "minivan": 0.1}) == ("car", pytest.approx(0.5))
    assert ta.presence("Is there a spoon?", {"wooden spoon": 0.3})[1] == pytest.approx(0.3)  # a word of the tag's name
    assert ta.presence("Is there a person?", {"military uniform": 0.4})[1] == pytest.approx(0.4)  # evidence, not a class
    assert ta.presence("Are there any people?", {"lakeside": 0.9}) == ("person", 0)


def test_presence_answers_yes_from_tags_or_close_captions_else_no():
    close = [Hit(id="1", score=0.9, image_path="", captions=["Two boats moored on a calm lake."])]
    assert answer_from_tags("Is there a bird?", {"robin": 0.5}, ["robin"], [], 0.2) == ("yes", "tags")
    assert answer_from_tags("Is there a boat?", {"lakeside": 0.9}, ["lakeside"], close, 0.2) == ("yes", "tags+captions")
    assert answer_from_tags("Is there a cat?", {"lakeside": 0.9}, ["lakeside"], close, 0.2) == ("no", "tags+captions")
    assert answer_from_tags("Is the dog sleeping?", {"Pekinese": 0.8}, ["Pekinese"], [], 0.2) is None  # not a presence question
    assert supported_by("Are there people?", [], [Hit(id="2", score=0.9, image_path="", captions=["Two people walk by."])], word="person")
    assert supported_by("Are there any bushes?", [], [Hit(id="3", score=0.9, image_path="", captions=["Two bushes and a fence."])], word="bush")


def test_indoors_and_where_from_scene_tags():
    assert ta.indoors("Is this indoors?", {"barbershop": 0.11, "punching bag": 0.09, "vacuum": 0.05}) == "yes"
    assert ta.indoors("Is this outdoors?", {"barbershop": 0.11, "punching bag": 0.09, "vacuum": 0.05}) == "no"
    assert ta.indoors("Is it inside?", {"valley": 0.6, "library": 0.1}) == "no"
    assert ta.indoors("Is this indoors?", {"tripod": 0.95}) is None  # says nothing about the scene
    assert ta.where_answer("Where is this?", {"alp": 0.7, "valley": 0.1}) == "mountains"
    assert ta.where_answer("Where was this photo taken?", {"lakeside": 0.5}) is None  # only the plain forms
    assert ta.where_answer("Where is this?", {"lakeside": 0.09, "palace": 0.4}) is None
    assert ta.where_answer("Where is the cat?", {"alp": 0.9}) is None


def test_material_from_close_captions():
    near = [Hit(id="1", score=0.9, image_path="", captions=["An old red brick house.", "A house of bricks and a wooden door."]),
            Hit(id="2", score=0.3, image_path="", captions=["A wooden shed."])]
    assert material_from_captions("What is the house made of?", near) == "brick"
    far = [Hit(id="3", score=0.1, image_path="", captions=["A stone wall."]), Hit(id="4", score=0.6, image_path="", captions=["A glass tower."])]
    assert material_from_captions("What are the walls made of?", far) == "glass"  # the nearer neighbour's vote weighs more
    assert material_from_captions("What is the house made of?", []) is None
    assert material_from_captions("What is the house next to?", near) is None


class _Retriever:
    """A stand-in retriever: fixed tags with their confidences and fixed neighbours."""

    def __init__(self, tag_scores, hits=()):
        self.tag_scores, self.hits = tag_scores, list(hits)

    def search_image(self, image, top_k=None, exclude_ids=()):
        from mmrag.facts import visual_facts
        from mmrag.retrieval.image_retriever import ImageSearch

        tags = [t for t, p in self.tag_scores.items() if p >= 0.2]
        return ImageSearch(self.hits, tags, {"encode": 0.0, "retrieve": 0.0, "facts": 0.0}, facts=visual_facts(image), tag_scores=dict(self.tag_scores))


def test_the_ask_job_answers_from_tags_before_the_generator():
    from PIL import Image

    from mmrag.jobs.ask import AskQueryEngine
    from tests.test_caption_grounding import Fixed

    llm = Fixed(answer="dog")
    image = Image.new("RGB", (64, 64), (120, 90, 60))
    engine = AskQueryEngine(_Retriever({"brambling": 0.53, "goldfinch": 0.12, "indigo bunting": 0.05}), llm)
    before = len(llm.prompts)
    r = engine.ask(image, "What animal is this?")
    assert (r.answer, r.answered_by) == ("bird", "tags") and len(llm.prompts) == before
    r = engine.ask(image, "Is there a cat in this photo?")
    assert (r.answer, r.answered_by) == ("no", "tags+captions") and len(llm.prompts) == before
    r = engine.ask(image, "What fruit is this?")  # no fruit among the tags: the generator answers
    assert r.answered_by == "generator" and len(llm.prompts) == before + 1
    off = AskQueryEngine(_Retriever({"brambling": 0.9}), llm, grounding=GroundingSettings(answer_from_facts=False))
    assert off.ask(image, "What animal is this?").answered_by == "generator"


def test_place_from_close_captions_only():
    from mmrag.generation.grounded_answers import place_from_captions

    close = [Hit(id="1", score=0.8, image_path="", captions=["A cobblestone street lined with brick buildings.", "A quiet lane in a town."])]
    assert place_from_captions("Where is this?", close) == "street"
    assert place_from_captions("Where is the bicycle?", close) == "street"
    assert place_from_captions("Where is this?", []) is None
    assert place_from_captions("What is this?", close) is None
    assert answer_from_tags("Where is this?", {"alp": 0.7}, ["alp"], close, 0.2) == ("mountains", "tags")  # a confident landscape tag first
    assert answer_from_tags("Where is this?", {"castle": 0.4}, ["castle"], close, 0.2) == ("street", "captions")


def test_presence_of_a_thing_no_class_shows_is_left_to_captions_or_the_generator():
    assert ta.showable("dog") and ta.showable("person") and not ta.showable("kiwi")
    # no ImageNet class is a kiwi: silent tags must not answer "no"
    assert answer_from_tags("Is there a kiwi in this photo?", {"lemon": 0.7}, ["lemon"], [], 0.2) is None
    close = [Hit(id="1", score=0.9, image_path="", captions=["Halved kiwis and lemons on a plate."])]
    assert answer_from_tags("Is there a kiwi in this photo?", {"lemon": 0.7}, ["lemon"], close, 0.2) == ("yes", "tags+captions")
    # close neighbours whose captions never name it do say "no" (easy-vqa: "is there a circle?")
    other = [Hit(id="2", score=0.9, image_path="", captions=["A red square on a white background."])]
    assert answer_from_tags("Is there a circle?", {}, [], other, 0.2) == ("no", "tags+captions")
    # a thing a class could show, not shown: still "no"
    assert answer_from_tags("Is there a dog?", {"lemon": 0.7}, ["lemon"], [], 0.2) == ("no", "tags+captions")


def test_an_answer_that_echoes_the_question_is_asked_again():
    from PIL import Image

    from mmrag.jobs.ask import AskQueryEngine
    from tests.test_caption_grounding import Fixed

    class Sequence(Fixed):
        """Says each of ``answers`` in turn (the last one from then on)."""

        answers: list = []

        def complete(self, prompt, formatted=False, **kw):
            self.answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            return super().complete(prompt, formatted, **kw)

    image = Image.new("RGB", (64, 64), (120, 90, 60))
    llm = Sequence(answers=["Squirrel.", "Branch."], prompts=[])
    r = AskQueryEngine(_Retriever({}), llm).ask(image, "What is the squirrel sitting on?")
    assert (r.answer, r.answered_by) == ("branch", "generator (second try)")
    assert len(llm.prompts) == 2 and "Not 'squirrel'" in llm.prompts[1]
    # both tries echo: the encoder's best guess, however unsure, answers instead
    llm = Sequence(answers=["Black-and-white photo."], prompts=[])
    r = AskQueryEngine(_Retriever({"golf ball": 0.14, "bubble": 0.08}), llm).ask(image, "What is this?")
    assert (r.answer, r.answered_by, len(llm.prompts)) == ("ball", "tags (low confidence)", 2)
    # ... and without tags the first answer stays, with why it is doubtful
    llm = Sequence(answers=["Black-and-white photo."], prompts=[])
    r = AskQueryEngine(_Retriever({}), llm).ask(image, "What is this?")
    assert r.answered_by.startswith("generator (talks about the photo") and len(llm.prompts) == 2
    # a good first answer is not asked again
    llm = Sequence(answers=["Fig."], prompts=[])
    r = AskQueryEngine(_Retriever({}), llm).ask(image, "What fruit is in the bowl?")
    assert (r.answer, r.answered_by, len(llm.prompts)) == ("fig", "generator", 1)
