"""word2vec's continuous bag of words with negative sampling on the Python documentation topics.

Mikolov et al., "Efficient estimation of word representations in vector space" (2013), and
"Distributed representations of words and phrases and their compositionality" (NeurIPS 2013).
The centre word of a window is predicted from the mean of the input embeddings of up to
``window`` words on each side (within the sentence); training pushes the dot product of
that mean with the centre word's output embedding up and with ``negatives`` words drawn
from the unigram distribution raised to ``noise_exponent`` down (the negative-sampling
loss). Frequent training words are discarded with probability ``1 - sqrt(t / f(w))``
(the paper's sub-sampling rule, ``t`` = ``subsample``), anew every epoch. Input
embeddings start uniform in +-0.5/d and output embeddings at zero, as in word2vec; both are
trained by plain SGD on the loss summed over a batch (``lr`` is word2vec's per-window
step), with the closed-form gradient applied to the rows the batch touches.

The objective is the validation cross-entropy of the centre word under the *full softmax*
over the vocabulary, ``softmax(U h)``, with the trained output embeddings ``U`` and the
context mean ``h`` (no sub-sampling). Unlike the negative-sampling loss it is a proper
log-likelihood of the same events for every ``negatives`` and ``noise_exponent``, so
configurations are comparable. Corpus, split and vocabulary: ``text_corpus``.

Shape glossary: ``V`` = vocabulary size, ``d`` = embedding size, ``n`` = windows (centre
positions), ``c = 2 * window`` context slots, ``k`` = negatives, ``B`` = batch size.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.space import Fidelity, Float, Int, SearchSpace
from hpbench.tasks.base import Task
from hpbench.tasks.text_corpus import Corpus, check_extra, load_corpus
from hpbench.tasks.torch_support import (
    check_finite,
    load_checkpoint,
    save_checkpoint,
    torch_generator,
    torch_settings,
)
from hpbench.trial import Evaluation

if TYPE_CHECKING:
    import torch

__all__ = ["CBOWTask", "context_windows", "NEIGHBOUR_WORDS"]

NEIGHBOUR_WORDS = ("class", "function", "list", "string", "exception", "module")
_N_NEIGHBOURS = 3


def context_windows(
    tokens: torch.Tensor, sentence: torch.Tensor, window: int, pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every position with at least one context word in its sentence, and that context.

    Args:
        tokens: word ids in corpus order, shape ``(N,)``.
        sentence: sentence number of each token, non-decreasing, shape ``(N,)``.
        window: words taken on each side.
        pad: id written into context slots outside the sentence.

    Returns:
        centres ``(n,)``, contexts ``(n, c)`` (``pad`` where empty), context sizes ``(n,)``.
    """
    import torch

    n = len(tokens)
    offsets = [o for o in range(-window, window + 1) if o != 0]
    position = torch.arange(n)
    slots = []
    for o in offsets:
        j = (position + o).clamp(0, max(n - 1, 0))
        inside = (position + o >= 0) & (position + o < n) & (sentence[j] == sentence)
        slots.append(torch.where(inside, tokens[j], torch.full_like(tokens, pad)))
    contexts = torch.stack(slots, dim=1) if n else torch.empty((0, len(offsets)), dtype=torch.int64)
    sizes = (contexts != pad).sum(dim=1)
    keep = sizes > 0
    return tokens[keep], contexts[keep], sizes[keep]


@functools.cache
def _flat(corpus: Corpus, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens of a part concatenated ``(N,)`` and each token's sentence number ``(N,)``."""
    import torch

    sents = getattr(corpus, part)
    tokens = torch.from_numpy(np.concatenate(sents).copy())
    sentence = torch.repeat_interleave(torch.arange(len(sents)), torch.tensor([len(s) for s in sents]))
    return tokens, sentence


def _embeddings(corpus: Corpus, dim: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Input ``(V + 1, d)`` (row V: padding, kept zero) and output ``(V, d)`` embeddings."""
    import torch

    V = len(corpus.vocab)
    inp = torch.empty(V + 1, dim).uniform_(-0.5 / dim, 0.5 / dim, generator=gen)
    inp[V].zero_()
    return {"input": inp, "output": torch.zeros(V, dim)}


def _context_mean(emb: dict[str, torch.Tensor], contexts: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """``h``: mean input embedding of each context, shape ``(n, d)``."""
    return emb["input"][contexts].sum(dim=1) / sizes.unsqueeze(1)


def _sgd_step(
    emb: dict[str, torch.Tensor],
    contexts: torch.Tensor,
    sizes: torch.Tensor,
    targets: torch.Tensor,
    lr: float,
) -> float:
    """One SGD step on the summed negative-sampling loss of a batch; returns that sum.

    ``targets`` ``(B, k+1)`` holds the centre word then the ``k`` negatives. The loss is
    ``-log s(u_o . h) - sum_j log s(-u_j . h)``; its gradient is closed-form (``g = s(score)
    - label``), applied with ``index_add_`` to the rows the batch touches, as word2vec does.
    """
    import torch
    import torch.nn.functional as F

    h = _context_mean(emb, contexts, sizes)  # (B, d)
    u = emb["output"][targets]  # (B, k+1, d)
    scores = torch.bmm(u, h.unsqueeze(2)).squeeze(2)  # (B, k+1)
    label = torch.zeros_like(scores)
    label[:, 0] = 1.0
    loss = -F.logsigmoid(torch.where(label > 0, scores, -scores)).sum()
    g = torch.sigmoid(scores) - label  # d loss / d score, (B, k+1)
    grad_h = torch.bmm(g.unsqueeze(1), u).squeeze(1) / sizes.unsqueeze(1)  # (B, d)
    d = h.shape[1]
    emb["output"].index_add_(
        0, targets.reshape(-1), (g.unsqueeze(2) * h.unsqueeze(1)).reshape(-1, d), alpha=-lr
    )
    c = contexts.shape[1]
    emb["input"].index_add_(0, contexts.reshape(-1), grad_h.repeat_interleave(c, dim=0), alpha=-lr)
    emb["input"][-1].zero_()  # the padding row took the empty slots' updates
    return float(loss)


def _train_epoch(
    emb: dict[str, torch.Tensor], gen: torch.Generator, corpus: Corpus, config: Mapping[str, Any]
) -> float:
    """One pass over freshly sub-sampled training windows; returns the mean negative-sampling loss."""
    import torch

    tokens, sentence = _flat(corpus, "train")
    counts = torch.from_numpy(corpus.counts.astype(np.float64))
    freq = counts / counts.sum()
    keep_p = torch.sqrt(config["subsample"] / freq.clamp_min(1e-300)).clamp(max=1.0)
    kept = torch.rand(len(tokens), generator=gen, dtype=torch.float64) < keep_p[tokens]
    V = len(corpus.vocab)
    centres, contexts, sizes = context_windows(tokens[kept], sentence[kept], int(config["window"]), V)
    noise = counts.pow(config["noise_exponent"])
    cdf = torch.cumsum(noise / noise.sum(), dim=0)
    k, batch = int(config["negatives"]), int(config["batch_size"])
    order = torch.randperm(len(centres), generator=gen)
    total = 0.0
    for begin in range(0, len(order), batch):
        rows = order[begin : begin + batch]
        draws = torch.rand(len(rows) * k, generator=gen, dtype=torch.float64)
        negatives = torch.searchsorted(cdf, draws).clamp(max=V - 1).view(len(rows), k)
        targets = torch.cat([centres[rows].unsqueeze(1), negatives], dim=1)
        total += _sgd_step(emb, contexts[rows], sizes[rows], targets, config["lr"])
    return total / max(len(order), 1)


def _log_likelihoods(emb: dict[str, torch.Tensor], corpus: Corpus, part: str, window: int) -> np.ndarray:
    """Full-softmax log-probability of each centre word of ``part`` given its context, ``(n,)``."""
    import torch

    tokens, sentence = _flat(corpus, part)
    centres, contexts, sizes = context_windows(tokens, sentence, window, len(corpus.vocab))
    with torch.no_grad():
        logits = _context_mean(emb, contexts, sizes) @ emb["output"].T  # (n, V)
        picked = logits.gather(1, centres.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, dim=1)
        hits = logits.argmax(dim=1) == centres
    return np.stack([picked.double().numpy(), hits.double().numpy()])


def _neighbours(emb: dict[str, torch.Tensor], corpus: Corpus) -> str:
    """The nearest words (cosine of input embeddings) of ``NEIGHBOUR_WORDS``, as one line of text."""
    import torch

    with torch.no_grad():
        vectors = emb["input"][: len(corpus.vocab)]
        unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        ids = corpus.ids(list(NEIGHBOUR_WORDS))
        sims = unit[ids] @ unit.T
        sims[torch.arange(len(ids)), torch.tensor(ids)] = -2.0
        top = sims.topk(_N_NEIGHBOURS, dim=1).indices
    return "; ".join(
        f"{w}: {', '.join(corpus.vocab[j] for j in row.tolist())}" for w, row in zip(NEIGHBOUR_WORDS, top)
    )


class CBOWTask(Task):
    """word2vec CBOW with negative sampling on the ``pydoc_data`` documentation topics.

    Space: embedding size 8..64 (log), context window 1..6 words per side, negatives k
    1..16 (log), noise exponent 0..1 (0 uniform, 1 unigram; Mikolov et al. use 0.75),
    sub-sampling threshold 1e-5..1e-1 (log; 1e-1 keeps every word of this corpus), SGD lr
    1e-3..1 (log; word2vec's default is 0.05), batch size 128..2048 (log). Fidelity: epochs
    1..9. The ranges keep one top-fidelity evaluation within a few seconds on one core.

    Metrics: ``test_loss`` (the objective on the test sentences), ``val_accuracy`` /
    ``test_accuracy`` (top-1 centre word), ``ns_loss`` (mean negative-sampling loss of the
    last training epoch), ``neighbours`` (text: three nearest words of a few fixed words),
    ``train_seconds``.

    Args:
        extra: ``"docstrings"`` adds the standard library's module docstrings to the
            training sentences (see ``text_corpus``); ``None`` for the topics alone.
    """

    def __init__(self, extra: str | None = None) -> None:
        check_extra(extra)  # the corpus itself is built on first use: `hpbench list` does not wait for it
        self.extra = extra
        self.name = "cbow-pydocs"
        self.space = SearchSpace(
            {
                "embedding_dim": Int(8, 64, log=True),
                "window": Int(1, 6),
                "negatives": Int(1, 16, log=True),
                "noise_exponent": Float(0.0, 1.0),
                "subsample": Float(1e-5, 1e-1, log=True),
                "lr": Float(1e-3, 1.0, log=True),
                "batch_size": Int(128, 2048, log=True),
            }
        )
        self.fidelity = Fidelity("epochs", 1, 9)
        # Worst CPU seconds of 3 random configs at 9 epochs, one core, on the shared machine
        # (load ~16 on 2 cores; mlp-digits took 2.9x its declared 2.5 s then).
        self.seconds_per_eval = 3.0
        # c0: t0 / t1 of t = t0 + t1 * epochs fitted (relative residuals) to the mean CPU seconds of
        # 6 random configs at 1, 3, 9 epochs (`hpbench calibrate cbow-pydocs --configs 6`,
        # 2026-12-03: t = 0.34 s + 0.125 s x epochs, R^2 1.0000; per config 1.1 to 7.1; was 1.7
        # from a median of 3 per-config fits): the full-softmax scoring of validation and test.
        self.overhead = 2.75
        self.description = (
            "word2vec CBOW with negative sampling on the pydoc_data topics, full-softmax "
            "validation cross-entropy, fidelity epochs 1..9"
        )

    @functools.cached_property
    def version(self) -> str:  # type: ignore[override]
        """``1-`` and the corpus digest: the topics change between Python releases."""
        return f"1-{load_corpus(self.extra).digest}"

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:

        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        epochs = int(budget)  # type: ignore[arg-type]
        corpus = load_corpus(self.extra)
        with torch_settings():
            gen = torch_generator(seed)
            emb = _embeddings(corpus, int(config["embedding_dim"]), gen)
            done, ns_loss = 0, float("nan")
            if checkpoint is not None:
                done, state = load_checkpoint(self.name, "epochs", checkpoint, config, seed, epochs)
                emb = {"input": state["input"], "output": state["output"]}
                gen.set_state(state["generator"])
                ns_loss = float(state["ns_loss"])
            start = time.perf_counter()
            for _ in range(done, epochs):
                ns_loss = _train_epoch(emb, gen, corpus, config)
            seconds = time.perf_counter() - start
            window = int(config["window"])
            val = _log_likelihoods(emb, corpus, "val", window)
            test = _log_likelihoods(emb, corpus, "test", window)
            check_finite(self.name, config, val, test, np.array(ns_loss))
            metrics = {
                "test_loss": float(-np.mean(test[0])),
                "val_accuracy": float(np.mean(val[1])),
                "test_accuracy": float(np.mean(test[1])),
                "ns_loss": ns_loss,
                "neighbours": _neighbours(emb, corpus),
                "train_seconds": seconds,
            }
            payload = {
                **emb,
                "generator": gen.get_state(),
                "ns_loss": ns_loss,
            }
            saved = save_checkpoint(config, seed, epochs, payload)
        return Evaluation(objective=float(-np.mean(val[0])), metrics=metrics, checkpoint=saved)
