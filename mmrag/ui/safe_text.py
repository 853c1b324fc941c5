"""Text from the store or a model, made safe to show.

Captions, answers, poems, tags and file names come from Qdrant payloads (which anyone with write
access fills) or from a model. Streamlit renders Markdown in ``st.markdown``, alerts, captions and
image captions: a caption ``![x](http://host/beacon.png)`` would make every viewer's browser fetch
the URL. Such text is shown with ``st.text``/``st.code`` where possible, and where Streamlit only
takes Markdown (image captions, alert bodies) through ``md`` here, which escapes every character
Markdown could act on.
"""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation; escaping all of it leaves no syntax
# (links, images, emphasis, HTML, Streamlit's :colour[...] directives and $math$) to act on.
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object) -> str:
    """``text`` as a printable str: undecodable bytes of a file name (surrogate escapes) become U+FFFD."""
    s = text if isinstance(text, str) else str(text)
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def md(text: object, one_line: bool = False) -> str:
    """Markdown source that displays ``text`` literally."""
    s = _PUNCT.sub(r"\\\1", plain(text))
    if one_line:
        return " ".join(s.split())
    return s.replace("\n", "  \n")  # keep line breaks as breaks, not paragraphs or list items
