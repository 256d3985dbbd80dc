"""Count-based baselines over token ids: a unigram model and an interpolated Kneser–Ney n-gram model.

They are fitted on a run's training split and scored on the split the network is scored on, so a
user sees whether the network learned more than local statistics. Neither ever gives a token zero
probability: the unigram model is add-one smoothed, and Kneser–Ney interpolates down to a uniform
distribution over the vocabulary.

N-grams are numbered without building tuples: an n-gram is (id of its first n-1 tokens as an
(n-1)-gram, last token), packed into one int64 key `prefix_id * V + token`; `np.unique` over the
keys gives each order's table, so fitting 1 M tokens at order 5 takes a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgen.evaluation.likelihood import Likelihood


def _lookup(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each key in the sorted `table`, -1 where absent (or where the key is negative)."""
    if len(table) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    found = (table[pos] == keys) & (keys >= 0)
    return np.where(found, pos, -1)


def _pack(prefix_ids: np.ndarray, tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Keys of the n-grams (prefix (n-1)-gram, token); -1 where the prefix is unknown."""
    return np.where(prefix_ids >= 0, prefix_ids * vocab_size + tokens, -1)


def _shift(a: np.ndarray) -> np.ndarray:
    """a[i-1] at position i; -1 at position 0 (no history before the start)."""
    out = np.empty_like(a)
    out[0] = -1
    out[1:] = a[:-1]
    return out


def modified_kn_discounts(counts: np.ndarray) -> np.ndarray:
    """Chen & Goodman's three discounts (for counts 1, 2, 3+) from the counts of counts.

    Falls back to 0.5/1.0/1.5 on data too small to estimate them; each discount stays in
    [0.05, k - 0.05] for count k, so every seen n-gram keeps some mass and every context gives some away.
    """
    n = [int((counts == k).sum()) for k in (1, 2, 3, 4)]
    fallback = np.array([0.5, 1.0, 1.5])
    if min(n) == 0:
        return fallback
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, 0.05, np.array([0.95, 1.95, 2.95]))


@dataclass
class _Order:
    keys: np.ndarray  # sorted int64 keys of the n-grams seen in training
    counts: np.ndarray  # float64 per n-gram: raw counts at the top order, continuation counts below
    discounts: np.ndarray  # (3,) for counts 1, 2, 3+
    denom: np.ndarray  # per context ((n-1)-gram id): summed counts of its continuations
    mass: np.ndarray  # per context: summed discounts, the weight given to the lower order

    def discount(self, c: np.ndarray) -> np.ndarray:
        d = self.discounts[np.clip(c.astype(np.int64), 1, 3) - 1]
        return np.where(c > 0, d, 0.0)


class KneserNey:
    """Interpolated modified Kneser–Ney over integer ids 0..V-1 (Chen & Goodman, 1998).

    p_n(w | h) = (max(c(hw) - D(c(hw)), 0) + M(h) · p_{n-1}(w | h')) / c(h•)   when h was seen,
    p_n(w | h) = p_{n-1}(w | h')                                             otherwise,
    with raw counts at the top order, continuation counts N1+(•hw) below it, M(h) the discounts
    taken from h's continuations, and p_0 = 1/V. Each p_n(· | h) sums to one over the vocabulary.
    """

    def __init__(self, order: int, vocab_size: int):
        if order < 1:
            raise ValueError("the n-gram order must be at least 1")
        self.order, self.vocab_size = order, vocab_size
        self.orders: list[_Order] = []

    def fit(self, ids: np.ndarray) -> "KneserNey":
        ids = np.asarray(ids, dtype=np.int64)
        V = self.vocab_size
        # gram ids along the corpus: grams[n-1][i] = id of the n-gram ending at position i (-1 if none)
        keys_by_order: list[np.ndarray] = [np.arange(V, dtype=np.int64)]  # every token is a 1-gram
        grams = [ids.copy()]
        raw: list[np.ndarray] = [np.bincount(ids, minlength=V).astype(np.float64)]
        for n in range(2, self.order + 1):
            packed = _pack(_shift(grams[-1]), ids, V)
            valid = packed >= 0
            table, counts = np.unique(packed[valid], return_counts=True)
            gram = np.full(len(ids), -1, dtype=np.int64)
            gram[valid] = np.searchsorted(table, packed[valid])
            keys_by_order.append(table)
            grams.append(gram)
            raw.append(counts.astype(np.float64))
        self.orders = []
        for n in range(1, self.order + 1):
            keys = keys_by_order[n - 1]
            if n == self.order:
                counts = raw[n - 1]
            else:
                # continuation count of an n-gram: distinct tokens seen before it = (n+1)-grams ending in it
                upper = keys_by_order[n]
                first_pos = self._first_positions(grams[n], len(upper))
                counts = np.bincount(grams[n - 1][first_pos], minlength=len(keys)).astype(np.float64)
            contexts = keys // V if n > 1 else np.zeros(len(keys), dtype=np.int64)
            n_contexts = len(keys_by_order[n - 2]) if n > 1 else 1
            order = _Order(keys, counts, modified_kn_discounts(counts[counts > 0]), np.empty(0), np.empty(0))
            order.denom = np.bincount(contexts, weights=counts, minlength=n_contexts)
            order.mass = np.bincount(contexts, weights=order.discount(counts), minlength=n_contexts)
            self.orders.append(order)
        return self

    @staticmethod
    def _first_positions(gram: np.ndarray, size: int) -> np.ndarray:
        """For each gram id 0..size-1, one corpus position where it ends."""
        valid = np.flatnonzero(gram >= 0)
        pos = np.empty(size, dtype=np.int64)
        pos[gram[valid]] = valid  # any occurrence will do: they all share the same suffix
        return pos

    def _interpolate(self, contexts: list[np.ndarray], targets: list[np.ndarray]) -> np.ndarray:
        """Probabilities from the per-order ids of each query's context and (context, token) n-gram.

        contexts[n-1], targets[n-1]: id of the (n-1)-gram context and of the n-gram in order n's tables, -1 if unseen.
        """
        p = np.full(len(targets[0]), 1.0 / self.vocab_size)
        for n, order in enumerate(self.orders, start=1):
            ctx, tgt = contexts[n - 1], targets[n - 1]
            seen = ctx >= 0
            safe_ctx = np.where(seen, ctx, 0)
            denom = np.where(seen, order.denom[safe_ctx], 0.0)
            seen &= denom > 0
            c = np.where(tgt >= 0, order.counts[np.where(tgt >= 0, tgt, 0)], 0.0)
            mixed = (np.maximum(c - order.discount(c), 0.0) + order.mass[safe_ctx] * p) / np.where(seen, denom, 1.0)
            p = np.where(seen, mixed, p)
        return p

    def stream_probs(self, ids: np.ndarray) -> np.ndarray:
        """p(ids[i] | ids[max(0, i-n+1):i]) for i = 1..len-1: the history never reaches before the start."""
        ids = np.asarray(ids, dtype=np.int64)
        V = self.vocab_size
        grams = [np.where(ids < V, ids, -1)]
        for order in self.orders[1:]:
            grams.append(_lookup(order.keys, _pack(_shift(grams[-1]), ids, V)))
        contexts = [np.zeros(len(ids), dtype=np.int64)] + [_shift(g) for g in grams[:-1]]
        return self._interpolate([c[1:] for c in contexts], [g[1:] for g in grams])

    def distribution(self, context: list[int]) -> np.ndarray:
        """p(w | context) for every w in the vocabulary: a (V,) array that sums to one."""
        V = self.vocab_size
        tokens = np.arange(V, dtype=np.int64)
        history = list(context)[-(self.order - 1) :] if self.order > 1 else []
        contexts, targets = [np.zeros(V, dtype=np.int64)], [tokens]
        for n in range(2, self.order + 1):
            ctx_id = self._gram_id(history[len(history) - (n - 1) :]) if len(history) >= n - 1 else -1
            contexts.append(np.full(V, ctx_id, dtype=np.int64))
            targets.append(_lookup(self.orders[n - 1].keys, _pack(contexts[-1], tokens, V)))
        return self._interpolate(contexts, targets)

    def _gram_id(self, gram: list[int]) -> int:
        """Id of a seen n-gram in its order's table, -1 if never seen."""
        gid = int(gram[0]) if 0 <= gram[0] < self.vocab_size else -1
        for n, tok in enumerate(gram[1:], start=2):
            key = np.array([gid * self.vocab_size + int(tok) if gid >= 0 else -1], dtype=np.int64)
            gid = int(_lookup(self.orders[n - 1].keys, key)[0])
        return gid

    def score(self, ids: np.ndarray) -> Likelihood:
        """Summed negative log-likelihood of ids[1:], each given the ids before it."""
        if len(ids) < 2:
            return Likelihood(0.0, 0)
        return Likelihood(float(-np.log(self.stream_probs(ids)).sum()), len(ids) - 1)


class Unigram:
    """Token frequencies with add-one smoothing: the floor any model must beat."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.probs = np.full(vocab_size, 1.0 / vocab_size)

    def fit(self, ids: np.ndarray) -> "Unigram":
        counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=self.vocab_size).astype(np.float64)
        self.probs = (counts + 1.0) / (counts.sum() + self.vocab_size)
        return self

    def distribution(self, context: list[int] | None = None) -> np.ndarray:
        return self.probs

    def score(self, ids: np.ndarray) -> Likelihood:
        if len(ids) < 2:
            return Likelihood(0.0, 0)
        return Likelihood(float(-np.log(self.probs[np.asarray(ids[1:], dtype=np.int64)]).sum()), len(ids) - 1)
