"""Interactive text-to-image search (ChatIR / PlugIR style).

    from mmrag import MMRag
    app = MMRag.from_config()
    turn = app.search("a dog on a blanket")              # searches, then asks a question
    turn.hits, turn.question.text                         # ranked Hits of round 0, the question
    turn = app.search("it is brown", session=turn.session)  # rewrites the dialogue, searches again

``session.py`` is the plain-data state, ``questioner.py`` asks, ``rewriter.py`` turns the dialogue
into one query, ``engine.py`` ties them to the text retriever (``app.search_engine``).
"""

from mmrag.search.session import RoundResult, SearchSession, Turn

__all__ = ["RoundResult", "SearchSession", "Turn", "SearchEngine", "SearchTurn"]


def __getattr__(name: str):
    # Lazy: the engine pulls in LlamaIndex; the session must stay cheap to import (CLI, UI).
    if name in ("SearchEngine", "SearchTurn"):
        from mmrag.search import engine

        return getattr(engine, name)
    raise AttributeError(name)
