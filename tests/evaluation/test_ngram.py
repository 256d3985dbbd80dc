"""The count baselines: proper distributions, never zero, and Kneser–Ney as the textbook defines it."""

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from seqgen.evaluation.ngram import KneserNey, Unigram, modified_kn_discounts


def corpus(n=4000, vocab=7, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, n)
    ids[::5] = 1  # some structure: a token that recurs every five places
    ids[1::5] = (ids[::5][: len(ids[1::5])] + 2) % vocab
    return ids


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kn_distributions_sum_to_one_and_are_never_zero(order):
    V = 9  # two ids never occur in training
    kn = KneserNey(order, V).fit(corpus())
    for context in ([], [1], [1, 3], [8, 8, 8, 8], [0, 1, 2, 3, 4, 5], list(corpus()[:7])):
        p = kn.distribution(context)
        assert p.shape == (V,)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (p > 0).all()


def test_stream_scores_agree_with_distributions():
    ids = corpus()
    kn = KneserNey(4, 9).fit(ids)
    held = corpus(200, seed=3)
    probs = kn.stream_probs(held)
    for i in range(1, len(held)):
        assert probs[i - 1] == pytest.approx(kn.distribution(list(held[max(0, i - 3) : i]))[held[i]], rel=1e-12)
    lik = kn.score(held)
    assert lik.tokens == len(held) - 1 and lik.nll_sum == pytest.approx(-np.log(probs).sum())


def reference_kn(train, order, V):
    """Interpolated modified Kneser–Ney written out with dictionaries, straight from Chen & Goodman."""
    train = [int(t) for t in train]
    raw = {n: Counter(tuple(train[i - n + 1 : i + 1]) for i in range(n - 1, len(train))) for n in range(1, order + 1)}
    counts = {order: raw[order]}
    for n in range(1, order):
        counts[n] = Counter(g[1:] for g in raw[n + 1])  # continuation counts: distinct left neighbours
    disc = {n: modified_kn_discounts(np.array(list(counts[n].values()), dtype=float)) for n in counts}
    denom, mass = defaultdict(float), defaultdict(float)
    for n, table in counts.items():
        for gram, c in table.items():
            denom[n, gram[:-1]] += c
            mass[n, gram[:-1]] += disc[n][min(c, 3) - 1]

    def prob(w, history):
        p = 1.0 / V
        for n in range(1, order + 1):
            if n - 1 > len(history):
                break
            ctx = tuple(history[len(history) - n + 1 :]) if n > 1 else ()
            if denom[n, ctx] <= 0:
                continue
            c = counts[n].get(ctx + (w,), 0)
            p = (max(c - (disc[n][min(c, 3) - 1] if c else 0.0), 0.0) + mass[n, ctx] * p) / denom[n, ctx]
        return p

    return prob


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kn_matches_a_dictionary_implementation(order):
    train = corpus(1500)
    kn = KneserNey(order, 9).fit(train)
    prob = reference_kn(train, order, 9)
    held = corpus(120, seed=5)
    ours = kn.stream_probs(held)
    for i in range(1, len(held)):
        assert ours[i - 1] == pytest.approx(prob(int(held[i]), [int(t) for t in held[max(0, i - order + 1) : i]]), rel=1e-9)


def test_discounts_follow_chen_goodman_and_stay_in_range():
    counts = np.array([1] * 100 + [2] * 40 + [3] * 20 + [4] * 10 + [9] * 5)
    y = 100 / (100 + 2 * 40)
    assert modified_kn_discounts(counts) == pytest.approx([1 - 2 * y * 40 / 100, 2 - 3 * y * 20 / 40, 3 - 4 * y * 10 / 20])
    assert list(modified_kn_discounts(np.array([5, 6, 7]))) == [0.5, 1.0, 1.5]  # too little data: fallback


def test_higher_orders_fit_structured_text_better():
    text = ("to be or not to be that is the question " * 60).encode()
    ids = np.frombuffer(text, dtype=np.uint8).astype(np.int64)
    train, held = ids[:-400], ids[-400:]
    nats = [KneserNey(n, 256).fit(train).score(held).nats for n in (1, 2, 3, 5)]
    assert nats == sorted(nats, reverse=True)
    assert nats[-1] < 0.1  # the text is periodic: a 5-gram model all but knows it


def test_unigram_is_add_one_smoothed():
    uni = Unigram(4).fit(np.array([0, 0, 0, 1]))
    assert uni.probs == pytest.approx([4 / 8, 2 / 8, 1 / 8, 1 / 8])
    lik = uni.score(np.array([0, 3, 2]))
    assert lik.tokens == 2 and lik.nll_sum == pytest.approx(-2 * math.log(1 / 8))
