"""An English corpus that ships with every Python: the standard library's documentation topics.

``pydoc_data.topics`` holds the text ``help()`` shows for keywords and topics (79 topics,
about 465 kB, 64,000 words of 3,100 distinct ones in Python 3.11). The text is cut into
sentences (at ``.``, ``!`` or ``?`` before white space, and at blank lines), lowercased and
tokenised into runs of letters; sentences of fewer than two words are dropped. The
sentences are split 80/10/10 into train / validation / test once, from a constant seed.
The vocabulary is the ``VOCAB_SIZE`` most frequent training words (ties alphabetical);
every other word becomes ``<unk>`` (id 0), an ordinary word of the vocabulary as in the
Penn Treebank's language-modelling set-up.

``extra="docstrings"`` adds the docstrings of the standard library's modules (read from
the source files without importing them) to the *training* sentences only; the
vocabulary and the validation and test sentences stay those of the documentation topics,
so validation losses with and without them are comparable.

The topics change between Python releases, so ``digest`` (a hash of the token ids)
belongs in the version of any task built on the corpus.
"""

from __future__ import annotations

import ast
import collections
import functools
import hashlib
import io
import os
import re
import sysconfig
import tokenize
from dataclasses import dataclass

import numpy as np

__all__ = ["VOCAB_SIZE", "UNK", "Corpus", "check_extra", "load_corpus", "sentences", "module_docstrings"]

VOCAB_SIZE = 2000  # words besides <unk>: 97% of the training tokens
UNK = "<unk>"
_SPLIT_SEED = 20_241_203
_FRACTIONS = (0.8, 0.1, 0.1)
_WORD = re.compile(r"[a-z]+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n")
_EXTRAS = (None, "docstrings")
# Standard-library folders that are not library modules' own documentation.
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "turtledemo", "lib2to3"}


@dataclass(frozen=True, eq=False)
class Corpus:
    """Token ids of the three parts, one int64 array per sentence (read-only).

    Attributes:
        vocab: the words, ``vocab[0] == "<unk>"``; ids index it.
        train, val, test: sentences as arrays of ids, each of length >= 2.
        counts: occurrences of each id in ``train``, shape ``(V,)``.
        digest: 12 hex digits identifying the token ids (changes with the Python release).
    """

    vocab: tuple[str, ...]
    train: tuple[np.ndarray, ...]
    val: tuple[np.ndarray, ...]
    test: tuple[np.ndarray, ...]
    counts: np.ndarray
    digest: str

    def ids(self, words: list[str]) -> list[int]:
        """Ids of ``words`` (``<unk>`` for words outside the vocabulary)."""
        index = {w: i for i, w in enumerate(self.vocab)}
        return [index.get(w, 0) for w in words]


def sentences(text: str) -> list[list[str]]:
    """Lowercased word lists of the sentences of ``text`` with at least two words."""
    out = [_WORD.findall(part.lower()) for part in _SENTENCE_END.split(text)]
    return [s for s in out if len(s) >= 2]


def _topics_text() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def _first_string(path: str) -> str | None:
    """The module docstring of the source file at ``path``, without importing or parsing it all."""
    try:
        with open(path, "rb") as fh:
            for tok in tokenize.tokenize(io.BytesIO(fh.read()).readline):
                if tok.type in (tokenize.ENCODING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                    continue
                if tok.type != tokenize.STRING:
                    return None
                value = ast.literal_eval(tok.string)
                return value if isinstance(value, str) else None
    except (OSError, SyntaxError, ValueError, tokenize.TokenError):
        return None
    return None


@functools.cache
def module_docstrings() -> tuple[str, ...]:
    """Docstrings of the standard library's pure-Python modules, in path order.

    Test suites, IDLE, demos and installed third-party packages are left out.
    """
    root = sysconfig.get_paths()["stdlib"]
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(("config-", "__")))
        for name in sorted(files):
            if name.endswith(".py"):
                doc = _first_string(os.path.join(folder, name))
                if doc:
                    out.append(doc)
    return tuple(out)


def _vocabulary(train: list[list[str]]) -> tuple[str, ...]:
    counts = collections.Counter(w for s in train for w in s)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return (UNK, *(w for w, _ in ranked[:VOCAB_SIZE]))


def _encode(parts: list[list[str]], index: dict[str, int]) -> tuple[np.ndarray, ...]:
    out = []
    for s in parts:
        a = np.array([index.get(w, 0) for w in s], dtype=np.int64)
        a.setflags(write=False)
        out.append(a)
    return tuple(out)


def check_extra(extra: str | None) -> None:
    """Refuse an ``extra`` that is not ``None`` or ``"docstrings"`` (without building the corpus)."""
    if extra not in _EXTRAS:
        raise ValueError(f"extra: rule 'one of {list(_EXTRAS)}' broken, got {extra!r}")


@functools.cache
def load_corpus(extra: str | None = None) -> Corpus:
    """The split documentation corpus, built once per process.

    Args:
        extra: ``None``, or ``"docstrings"`` to add the module docstrings to training.

    Raises:
        ValueError: for another ``extra``.
    """
    check_extra(extra)
    sents = sentences(_topics_text())
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(sents))
    cut = np.rint(np.cumsum(_FRACTIONS)[:-1] * len(sents)).astype(int)
    train, val, test = ([sents[i] for i in part] for part in np.split(order, cut))
    vocab = _vocabulary(train)
    if extra == "docstrings":
        train = train + [s for doc in module_docstrings() for s in sentences(doc)]
    index = {w: i for i, w in enumerate(vocab)}
    parts = [_encode(p, index) for p in (train, val, test)]
    counts = np.bincount(np.concatenate(parts[0]), minlength=len(vocab))
    counts.setflags(write=False)
    digest = hashlib.sha1("\n".join(vocab).encode())
    for part in parts:
        for s in part:
            digest.update(s.tobytes() + b"|")
    return Corpus(vocab, parts[0], parts[1], parts[2], counts, digest.hexdigest()[:12])
