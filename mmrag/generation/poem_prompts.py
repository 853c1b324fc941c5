"""Prompts of the poem job (describe, compose, translate, judge) and the text helpers around them.

The prompts are in Chinese because the generator answers in the language it is asked in, and every
step after the description works on Chinese text.
"""

from __future__ import annotations

import re

from llama_index.core.prompts import PromptTemplate

from mmrag.schema import Hit

DESCRIBE_SYSTEM = "你是一位细心的观察者，用简洁优美的中文描述画面。"
DESCRIBE_PROMPT = PromptTemplate(
    "下面是几张与一张新照片相似的照片的英文说明：\n{context}\n"
    "图像分类器在新照片中看到（可能有误）：{tags}。\n"
    "{words}"
    "请用两句中文描述这张新照片的景物、色彩和意境，不要使用英文。只输出描述。"
)
WORDS_LINE = "用户想表达的是：{words}\n"

POEM_SYSTEM = "你是一位精通中国古典诗词的诗人。"
POEM_PROMPT = PromptTemplate(
    "请根据下面的画面写一首中国古典诗词：{form}。{shape}\n"
    "画面：{description}\n"
    "用文言写新的诗句，不要照抄画面描述。只输出诗句，每两句一行，不要标题，不要解释。"
)

# One worked example, sent before the real request: without it the 0.5B generator echoes the imagery
# terms ("湖水岸林树青天山") or writes clauses of four characters.
POEM_EXAMPLE = ("月、霜、床、乡", "五言绝句", "共4句，每句5个字。", "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。")
# The forms a generated poem may take: the form check accepts these and can check nothing else (a ci
# tune's line lengths are not checked), so a ci or an irregular top candidate is answered with 五言绝句.
DEFAULT_FORM = (4, 5)
VERSE_REPEAT_PENALTY = 1.3  # llama.cpp's default 1.1 let the constrained generator write "案案案案案"

TRANSLATE_SYSTEM = "你是一位古诗词讲解者，用通顺的现代白话文讲出古诗的景物和情感。"
# Asked as a question: told to "translate", the 0.5B generator copies the poem back; asked what the
# poem depicts, it answers in vernacular prose, which is what route B needs.
TRANSLATE_PROMPT = PromptTemplate(
    "这首诗描写了什么景色和心情？请用两三句现代汉语回答。\n"
    "《{title}》 {author}\n{text}"
)

# One worked example: without it a 0.5B generator tends to copy the poem back as its "translation".
TRANSLATE_EXAMPLE = (
    "《静夜思》 李白\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
    "这首诗描写了一个安静的夜晚：明亮的月光洒在床前，好像地上铺了一层白霜。诗人抬头望着明月，又低下头思念远方的故乡。",
)

JUDGE_SYSTEM = "你是古典诗词鉴赏专家，只用一个数字回答。"
JUDGE_PROMPT = PromptTemplate(
    "画面描述：{query}\n\n诗词：\n{poem}\n\n"
    "这首诗词与画面描述的景物和意境有多契合？请只回答一个0到10的整数，10表示非常契合。"
)

_CJK = re.compile(r"[\u3400-\u9fff]")
_CLAUSE_SPLIT = re.compile(r"[，。！？；、,.!?;：:]")
_NUM_CN = {4: "四", 5: "五", 6: "六", 7: "七"}


def describe_context(hits: list[Hit], per_image: int = 2) -> str:
    lines = [f"- {c}" for h in hits for c in h.captions[:per_image]]
    return "\n".join(lines) if lines else "- （没有相似的照片）"


def clauses(lines: list[str]) -> list[str]:
    return [c for line in lines for c in _CLAUSE_SPLIT.split(line) if c.strip()]


def poem_form(lines: list[str], rhythmic: str = "") -> tuple[str, str]:
    """(form name, shape instruction) of a poem, from its clause lengths, e.g. ("五言绝句", "共4句，每句5个字。")."""
    cs = clauses(lines)
    lengths = {len(c.strip()) for c in cs}
    if rhythmic:
        return f"词（词牌《{rhythmic}》）", f"按《{rhythmic}》的格式，共{len(cs)}句。"
    if len(lengths) == 1 and (n := lengths.pop()) in _NUM_CN:
        kind = "绝句" if len(cs) == 4 else "律诗" if len(cs) == 8 else "古诗"
        return f"{_NUM_CN[n]}言{kind}", f"共{len(cs)}句，每句{n}个字。"
    return "古体诗", f"共{max(len(cs), 4)}句左右。"


def target_form(lines: list[str], rhythmic: str = "") -> tuple[str, str, int, int]:
    """(form name, shape instruction, clauses, characters per clause) a generated poem is asked for: the
    form of ``lines`` when it is a 绝句 or 律诗, else ``DEFAULT_FORM``."""
    cs = [c.strip() for c in clauses(lines)]
    lengths = {len(c) for c in cs}
    shape = (len(cs), lengths.pop()) if not rhythmic and len(lengths) == 1 else DEFAULT_FORM
    n, chars = shape if shape in FORMS else DEFAULT_FORM
    kind = "绝句" if n == 4 else "律诗"
    return f"{_NUM_CN[chars]}言{kind}", f"共{n}句，每句{chars}个字。", n, chars


def verse_grammar(n_clauses: int, chars: int) -> str:
    """A GBNF grammar of exactly ``n_clauses`` clauses of ``chars`` CJK characters, two to a line
    ("，" then "。"): decoding under it cannot miscount, which the 0.5B generator always did unconstrained."""
    if n_clauses < 2 or n_clauses % 2 or chars < 1:
        raise ValueError(f"need an even number of clauses and at least one character, got {n_clauses} x {chars}")
    clause = " ".join(["han"] * chars)
    body = ' "\\n" '.join(["line"] * (n_clauses // 2))
    return f'root ::= {body}\nline ::= {clause} "，" {clause} "。"\nhan ::= [\u4e00-\u9fff]\n'


def verse_decoding(llm: object, n_clauses: int, chars: int) -> dict[str, object]:
    """Per-call decoding options that make a backend write the form (llama.cpp: grammar and a stronger
    repetition penalty); {} for a backend that takes no grammar, whose output the form check filters."""
    if not getattr(llm, "accepts_grammar", False):
        return {}
    return {"grammar": verse_grammar(n_clauses, chars), "repeat_penalty": VERSE_REPEAT_PENALTY}


MAX_VERSE_CLAUSE = 11  # CJK characters; longer clauses are prose, not verse (ci lines reach ~11)
_LATIN = re.compile(r"[A-Za-z]")


def clean_poem(text: str, max_lines: int = 16) -> list[str]:
    """Lines of a generated poem, or [] when the output is not verse.

    Drops titles and commentary lines; a small generator often echoes the prose description
    instead of writing a poem, so a line with Latin letters or a clause longer than
    ``MAX_VERSE_CLAUSE`` characters rejects the whole output rather than passing prose as a poem.
    """
    out = []
    for raw in (text or "").splitlines():
        line = raw.strip().strip("*#>-\"“”'` ").strip()
        if not _CJK.search(line):
            continue
        if line.startswith(("《", "标题", "题目", "注", "译文", "赏析", "解释")) or line.endswith(("：", ":")):
            continue
        if _LATIN.search(line) or any(len(c.strip()) > MAX_VERSE_CLAUSE for c in _CLAUSE_SPLIT.split(line)):
            return []
        out.append(line)
    return out[:max_lines]


def clean_text(text: str, max_sentences: int | None = None) -> str:
    """One paragraph of generated prose: labels such as "描述：" dropped, whitespace collapsed, and at
    most ``max_sentences`` sentences (small generators repeat themselves once the content runs out)."""
    t = re.sub(r"^\s*(?:描述|译文|白话文|翻译|答)\s*[：:]\s*", "", (text or "").strip())
    # whitespace means nothing next to Chinese text (the generator wraps lines, 水墨唐诗 indents with
    # ideographic spaces) but separates English words
    t = re.sub(r"\s+(?=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])|(?<=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])\s+", "", t)
    t = re.sub(r"\s+", " ", t)
    if not max_sentences:
        return t
    # Clause by clause: drop verbatim repeats and, when Chinese is there, clauses with English words.
    pieces = [p for p in re.findall(r"[^，。！？；!?]+[，。！？；!?]?", t) if p.strip("，。！？；!? ")]
    keep_latin = not any(not _LATIN.search(p) for p in pieces)
    out, seen, sentences = [], set(), 0
    for p in pieces:
        body = p.rstrip("，。！？；!?")
        if body in seen or (_LATIN.search(body) and not keep_latin):
            continue
        seen.add(body)
        out.append(p)
        if p.endswith(("。", "！", "？", "!", "?")):
            sentences += 1
            if sentences >= max_sentences:
                break
    text = "".join(out)
    return text[:-1] + "。" if text.endswith(("，", "；")) else text


def has_chinese(text: str) -> bool:
    return bool(_CJK.search(text or ""))


def token_budget(llm: object, n: int) -> dict[str, int]:
    """Per-call output budget in the keyword each backend understands: the in-process backends take
    ``max_new_tokens``; OpenAI-compatible clients forward kwargs to the API, which wants ``max_tokens``."""
    if hasattr(llm, "max_new_tokens"):
        return {"max_new_tokens": n}
    if hasattr(llm, "max_tokens"):
        return {"max_tokens": n}
    return {}


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if _CJK.match(c)]
    return {a + b for a, b in zip(chars, chars[1:])}


def is_copy(candidate: str, original: str, threshold: float = 0.6) -> bool:
    """True when most character bigrams of ``candidate`` come from ``original``: a "translation"
    that repeats the poem instead of rendering it in the vernacular."""
    got = _bigrams(candidate)
    return bool(got) and len(got & _bigrams(original)) / len(got) >= threshold


# Words of modern written Chinese that classical verse does not use; one of them marks a line as
# vernacular prose cut into lines, which is what a 0.5B generator writes when it cannot write verse.
# 是, 了, 那 and 着 are not listed: classical lines use them too (疑是地上霜, 了却君王天下事).
VERNACULAR = ("的", "我们", "你们", "他们", "这", "吗", "呢", "吧", "很", "一个", "非常", "就是", "但是", "因为", "所以", "什么", "没有")
FORMS = {(4, 5), (4, 7), (8, 5), (8, 7)}  # (clauses, characters per clause): 绝句 and 律诗


def form_problem(lines: list[str]) -> str | None:
    """Why a generated poem fails the form check, or None when it passes: 4 or 8 clauses of the same
    length, 5 or 7 characters each, Chinese characters only, no vernacular words, no character filling
    half a clause, no clause twice."""
    if not lines:
        return "no lines"
    cs = [c.strip() for c in clauses(lines)]
    lengths = {len(c) for c in cs}
    if len(lengths) != 1:
        return f"clauses of different lengths {sorted(lengths)}"
    n = lengths.pop()
    if (len(cs), n) not in FORMS:
        return f"{len(cs)} clauses of {n} characters (want 4 or 8 of 5 or 7)"
    if any(not _CJK.fullmatch(ch) for c in cs for ch in c):
        return "characters that are not Chinese"
    text = "".join(cs)
    found = [w for w in VERNACULAR if w in text]
    if found:
        return f"vernacular words {found}"
    # a constrained small generator fills the form with one character ("案案案案案") or one clause;
    # verse repeats too (渐行渐远渐无书), but no character fills half a clause
    if any(2 * c.count(ch) > len(c) for c in cs for ch in set(c)) or len(set(cs)) < len(cs):
        return "repeats itself"
    return None


def copies_example(lines: list[str]) -> bool:
    """True when a generated poem is the worked example sent before the request, given back."""
    return [c.strip() for c in clauses(lines)] == clauses(POEM_EXAMPLE[3].split("\n"))
