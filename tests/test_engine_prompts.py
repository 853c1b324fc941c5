"""``engine.update_prompts`` changes what the search engine sends to its generator (LlamaIndex's
PromptMixin contract), checked with a stand-in chat model that records every message it is sent."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage, ChatResponse, MessageRole
from llama_index.core.prompts import PromptTemplate

from mmrag.retrieval.text_retriever import TextRetriever
from mmrag.search.engine import SearchEngine


class Recorder:
    """Stands in for the generator: records the user message of every chat call, replies with a fixed line."""

    def __init__(self, reply: str) -> None:
        self.reply, self.sent = reply, []

    def chat(self, messages, **kwargs):
        self.sent.append(messages[-1].content)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=self.reply))


@pytest.fixture(scope="module")
def retriever(kb_app):
    s = kb_app.settings
    return TextRetriever(kb_app.image_encoder, kb_app.text_encoder, kb_app.store, s.qdrant.collection, s.retrieval)


def test_search_prompts_are_updatable_and_reach_the_generator(retriever):
    llm = Recorder("Is it red?")
    engine = SearchEngine(retriever, llm, top_k=3, strategy="rewrite", max_question_attempts=1)
    default = engine.get_prompts()
    assert set(default) == {"question", "rewrite"}

    engine.start("a vehicle indoors")
    assert llm.sent and "The user is looking for a photo" in llm.sent[-1]  # the default question prompt
    engine.update_prompts({
        "question": PromptTemplate("ASK-V2 about {description}; seen {candidates}; {dialogue}{asked}{differing}"),
        "rewrite": PromptTemplate("REWRITE-V2 {description} | {dialogue}"),
    })
    assert engine.get_prompts()["question"].get_template().startswith("ASK-V2")
    llm.sent.clear()
    engine.answer("it is a red motorcycle")
    assert any(m.startswith("REWRITE-V2 a vehicle indoors | ") and "red motorcycle" in m for m in llm.sent)
    assert any(m.startswith("ASK-V2 about a vehicle indoors") for m in llm.sent)
    assert not any("The user is looking for a photo" in m or "Write one sentence" in m for m in llm.sent)

    with pytest.raises(KeyError, match="nope"):
        engine.update_prompts({"nope": PromptTemplate("x")})
    assert engine.get_prompts()["rewrite"].get_template().startswith("REWRITE-V2")  # a bad key changes nothing
