"""Interactive text-to-image search (ChatIR / PlugIR style).

    from mmrag.search import SearchEngine
    engine = SearchEngine.from_app(app)
    session = engine.start("a dog on a blanket")   # searches, then asks a question
    engine.answer("it is brown and black")         # rewrites the dialogue, searches again
    engine.results()                               # ranked Hits of the latest round

``session.py`` is the plain-data state, ``questioner.py`` asks, ``rewriter.py`` turns the dialogue
into one query, ``engine.py`` ties them to the text retriever.
"""

from mmrag.search.session import RoundResult, SearchSession, Turn

__all__ = ["RoundResult", "SearchSession", "Turn", "SearchEngine"]


def __getattr__(name: str):
    # Lazy: the engine pulls in LlamaIndex; the session must stay cheap to import (CLI, UI).
    if name == "SearchEngine":
        from mmrag.search.engine import SearchEngine

        return SearchEngine
    raise AttributeError(name)
