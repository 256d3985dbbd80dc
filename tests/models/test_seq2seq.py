"""The encoder-decoder: its loss, its attention, and its decoders (batched greedy, beam search) behave as specified."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from seqgen.config import SampleConfig, Seq2SeqConfig
from seqgen.errors import UsageError
from seqgen.models import search
from seqgen.models.seq2seq import BOS, EOS, PAD, DecoderState, Seq2Seq
from seqgen.models.translate import source_batch, translate
from seqgen.training.pairs import target_nll


def tiny(attention="luong", cell="lstm", bidirectional=True, seed=0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    if attention == "beats":
        kw.setdefault("marks", (5, 11))  # SOURCES' rows have two, none and three of them
    cfg = Seq2SeqConfig(src_vocab=12, tgt_vocab=9, cell=cell, layers=2, hidden=16, embed=8, dropout=0.0,
                        attention=attention, bidirectional=bidirectional, **kw)
    return Seq2Seq(cfg).eval()


SOURCES = [[4, 5, 6, 7, 8], [9, 10], [5, 5, 11]]  # different lengths, so the batch is padded
TARGETS = [[4, 5, 6], [7], [8, 4]]


def batch_of(sources, targets):
    src, lengths = source_batch(sources, "cpu")
    T = max(len(t) for t in targets) + 1
    tgt_in = torch.zeros(len(targets), T, dtype=torch.long)
    tgt_out = torch.zeros(len(targets), T, dtype=torch.long)
    for r, t in enumerate(targets):
        tgt_in[r, : len(t) + 1] = torch.tensor([BOS, *t])
        tgt_out[r, : len(t) + 1] = torch.tensor([*t, EOS])
    return src, lengths, tgt_in, tgt_out


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "peek", "beats", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_teacher_forced_loss_is_the_sum_of_the_per_step_losses(attention, cell):
    model = tiny(attention, cell)
    batch = batch_of(SOURCES, TARGETS)
    total, count = target_nll(model, batch)
    src, lengths, tgt_in, tgt_out = batch
    # by hand: one decoder step at a time, each row's own reference token as the next input, padding not scored
    by_hand, n = 0.0, 0
    for row in range(len(SOURCES)):
        state = model.encode(src[row : row + 1, : lengths[row]], lengths[row : row + 1])
        for t in range(len(TARGETS[row]) + 1):
            logits, state = model.step(tgt_in[row, t : t + 1], state)
            by_hand += F.cross_entropy(logits, tgt_out[row, t : t + 1]).item()
            n += 1
    assert count == n == sum(len(t) + 1 for t in TARGETS)
    assert float(total) == pytest.approx(by_hand, rel=1e-5)


def test_each_output_reads_its_marks_state_in_order():
    model = tiny("beats", marks=(5,))
    src, lengths = source_batch([[4, 5, 6, 5, 7, 5, 8], [9, 10]], "cpu")  # marks at 1, 3, 5; none in the second row
    state = model.encode(src, lengths)
    read = []
    for _ in range(4):  # a fourth output past the last mark reads the last mark again
        _, state = model.step(torch.tensor([BOS, BOS]), state)
        read.append(state.weights.argmax(dim=-1).tolist())
        assert torch.equal(state.weights.sum(dim=-1), torch.ones(2))
    assert read == [[1, 1], [3, 1], [5, 1], [5, 1]]  # the second row reads its last real token
    with pytest.raises(UsageError, match="--attention beats needs sources that mark"):
        Seq2SeqConfig(src_vocab=12, tgt_vocab=9, attention="beats").check()


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attention_weights_sum_to_one_and_are_zero_on_padding(attention):
    model = tiny(attention)
    src, lengths = source_batch(SOURCES, "cpu")
    state = model.encode(src, lengths)
    for y in ([BOS] * 3, [4, 5, 6]):
        _, state = model.step(torch.tensor(y), state)
        w = state.weights  # (B, S)
        assert torch.allclose(w.sum(dim=-1), torch.ones(len(SOURCES)))
        for row, n in enumerate(lengths.tolist()):
            assert torch.all(w[row, n:] == 0) and torch.all(w[row, :n] > 0)


def test_padding_does_not_change_what_a_source_encodes():
    """A source decoded alone and in a padded batch gives the same scores: packing and masking hide the padding."""
    model = tiny("bahdanau")
    alone = target_nll(model, batch_of(SOURCES[1:2], TARGETS[1:2]))[0]
    batch = batch_of(SOURCES, TARGETS)
    logits = model(batch[0], batch[1], batch[2])[1:2, : len(TARGETS[1]) + 1]  # row 1's real steps
    together = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[3][1, : len(TARGETS[1]) + 1], reduction="sum")
    assert float(together) == pytest.approx(float(alone), rel=1e-5)


def many_sources(n=40, seed=3):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(4, 12, (int(torch.randint(1, 9, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "beats", "none"])
def test_batched_greedy_equals_one_at_a_time(attention):
    model = tiny(attention, seed=5)
    sources = many_sources()
    cfg = SampleConfig(greedy=True, length=12)
    together = translate(model, sources, cfg, max_length=12, batch=16)
    alone = [translate(model, [s], cfg, max_length=12, batch=1)[0] for s in sources]
    assert together == alone
    assert all(len(out[0]) <= 12 and (len(out[0]) == 12 or out[0][-1] == EOS) for out in together)  # <eos> (kept) or the cap


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "beats", "none"])
def test_beam_of_one_is_greedy_token_for_token(attention):
    model = tiny(attention, seed=7)
    sources = many_sources(20, seed=4)
    greedy = translate(model, sources, SampleConfig(greedy=True, length=15), max_length=15)
    beam1 = translate(model, sources, SampleConfig(greedy=False, beam=1, length=15), max_length=15)
    assert beam1 == greedy


def test_beam_search_returns_the_best_hypotheses_counted_by_hand():
    """A three-token table model: scores of every sequence up to length 3 are enumerated by hand; beam search
    must return the K best by length-normalised log-probability (finished ones end with <eos> = 0)."""
    # next-token log-probabilities depend only on the previous token (row); token 0 is <eos>
    table = torch.tensor([[0.0, 0.0, 0.0], [0.3, 0.35, 0.35], [0.6, 0.1, 0.3]]).clamp_min(1e-12).log()
    first = torch.tensor([[0.05, 0.55, 0.40]]).log()  # (1, V): the first token's log-probabilities

    def step(ids, state):
        return table[ids], state

    def select(state, rows):
        return state

    found = search.beam_search(first, None, step, select, beam=3, length=3, eos_id=0, alpha=1.0, keep=3)[0]
    # brute force: every sequence that ends at <eos> within 3 tokens, or runs the full 3 tokens
    candidates = []
    for n in (1, 2, 3):
        for seq in itertools.product(range(3), repeat=n):
            if 0 in seq[:-1] or (n < 3 and seq[-1] != 0):
                continue
            logp = float(first[0, seq[0]]) + sum(float(table[a, b]) for a, b in zip(seq, seq[1:]))
            candidates.append((list(seq), logp / n))
    best = sorted(candidates, key=lambda c: -c[1])[:3]
    assert [ids for ids, _ in found] == [ids for ids, _ in best]
    assert [s for _, s in found] == pytest.approx([s for _, s in best], abs=1e-6)
    assert best[0][0] == [2, 0]  # greedy would take 1 first (0.55) and miss it: 0.4 then <eos> 0.6 is best per token


def test_beam_search_stops_once_no_live_hypothesis_can_enter_the_best():
    """After the first token, <eos> (0) is likely: by the second step two hypotheses have ended, and nothing still alive
    scores as well as they do, so the search stops there instead of running to `length`."""
    table = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05]]).clamp_min(1e-12).log()
    first = torch.tensor([[0.05, 0.55, 0.40]]).log()
    steps = []

    def step(ids, state):
        steps.append(len(ids))
        return table[ids], state

    found = search.beam_search(first, None, step, lambda state, rows: state, beam=2, length=50, eos_id=0, alpha=1.0, keep=2)[0]
    assert [ids for ids, _ in found] == [[1, 0], [2, 0]]
    assert len(steps) == 1  # one step after the first token, not 49


@pytest.mark.parametrize("attention", ["luong", "peek", "beats", "none"])
def test_beam_search_gives_each_source_the_same_outputs_in_a_batch_as_alone(attention):
    model = tiny(attention, seed=5)
    sources = many_sources(12, seed=6)
    cfg = SampleConfig(beam=3, num=2, length=10)
    assert translate(model, sources, cfg, max_length=10, batch=12) == translate(model, sources, cfg, max_length=10, batch=1)


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_a_sources_hypotheses_attend_to_its_states_kept_once(attention):
    """G queries per source (a beam's hypotheses) against the source's states, one row per source, get what each
    query gets against its own copy of them; a beam search never copies them."""
    model = tiny(attention, seed=3)
    with torch.no_grad():
        state = model.encode(*source_batch(SOURCES, "cpu"))
        G = 4
        query = torch.randn(len(SOURCES) * G, 16)
        copies = torch.arange(len(SOURCES)).repeat_interleave(G)
        shared = model.attention(query, state.keys, state.memory, state.mask)
        copied = model.attention(query, state.keys[copies], state.memory[copies], state.mask[copies])
        for a, b in zip(shared, copied):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6)
        seen = []

        def step(ids, state):
            seen.append(state.memory.size(0))
            return model.step(ids, state)

        logits, state = model.step(torch.full((len(SOURCES),), BOS), state)
        search.beam_search(torch.log_softmax(logits, -1), state, step, DecoderState.select, 3, 5, EOS, reorder=DecoderState.reorder)
        assert seen and set(seen) == {len(SOURCES)}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_bidirectional_encoder_sees_the_future(cell):
    """Changing the last source token changes what the encoder says at the first position only when it reads both ways."""
    for bidirectional in (True, False):
        model = tiny("luong", cell, bidirectional=bidirectional)
        a, b = [[4, 5, 6, 7]], [[4, 5, 6, 11]]
        first = [model.encode(*source_batch(s, "cpu")).memory[0, 0] for s in (a, b)]
        assert torch.equal(first[0], first[1]) is (not bidirectional)


def test_a_bidirectional_encoder_learns_what_a_forward_one_cannot_without_attention():
    """Output the source's first token when its last token is 4, else its second token: a forward encoder without
    attention must carry the first two tokens across the whole source; read both ways, each end is one step away."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(256):
        s = torch.randint(4, 12, (14,), generator=g).tolist()
        data.append((s, [s[0] if s[-1] == 4 else s[1]]))

    def fit(bidirectional):
        torch.manual_seed(1)
        model = Seq2Seq(Seq2SeqConfig(src_vocab=12, tgt_vocab=12, layers=1, hidden=24, embed=8, dropout=0.0,
                                      attention="none", bidirectional=bidirectional))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            loss, count = target_nll(model, batch_of([s for s, _ in data], [t for _, t in data]))
            opt.zero_grad()
            (loss / count).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            return float(target_nll(model, batch_of([s for s, _ in data], [t for _, t in data]))[0]) / (2 * len(data))

    assert fit(True) < 0.5 * fit(False)


def test_a_model_that_saw_nothing_ends_every_output_within_the_cap():
    model = tiny(seed=9)
    outs = translate(model, many_sources(5), SampleConfig(greedy=False, temperature=1.0, num=3, seed=1, length=7), max_length=7)
    assert all(len(o) == 3 and all(1 <= len(h) <= 7 for h in o) for o in outs)
    again = translate(model, many_sources(5), SampleConfig(greedy=False, temperature=1.0, num=3, seed=1, length=7), max_length=7)
    assert again == outs  # the same seed, the same draws
    assert math.isfinite(float(target_nll(model, batch_of(SOURCES, TARGETS))[0]))
    assert PAD == 0


@pytest.mark.parametrize("attention", ["peek", "none"])
def test_the_peeking_decoder_reads_the_summary_at_every_step(attention):
    """Cho et al. 2014: the source's summary enters every decoder step, not only the first state. Give the second
    step another source's summary: a peeking decoder's scores change, the plain one's cannot (it never reads it)."""
    model = tiny(attention, seed=4)
    with torch.no_grad():
        state = model.encode(*source_batch([SOURCES[0]], "cpu"))
        other = model.encode(*source_batch([SOURCES[1]], "cpu"))
        _, after_first = model.step(torch.tensor([BOS]), state)
        if attention == "peek":
            assert state.summary is not None and state.summary.shape == (1, 32)  # both directions of the top layer
            swapped = DecoderState(after_first.hidden, after_first.cell, after_first.feed, after_first.memory, after_first.keys,
                                   after_first.mask, summary=other.summary)
        else:
            assert state.summary is None
            swapped = DecoderState(after_first.hidden, after_first.cell, after_first.feed, other.memory, other.keys, other.mask)
        own, _ = model.step(torch.tensor([5]), after_first)
        theirs, _ = model.step(torch.tensor([5]), swapped)
    assert torch.equal(own, theirs) is (attention == "none")


def test_a_peeking_decoders_beam_hypotheses_read_their_own_sources_summary():
    """A beam keeps one summary per source and its K hypotheses read it: batched equals one at a time (above), and
    the summary is never copied to the hypotheses."""
    model = tiny("peek", seed=2)
    with torch.no_grad():
        state = model.encode(*source_batch(SOURCES, "cpu"))
        seen = []

        def step(ids, state):
            seen.append((ids.size(0), state.summary.size(0)))
            return model.step(ids, state)

        logits, state = model.step(torch.full((len(SOURCES),), BOS), state)
        search.beam_search(torch.log_softmax(logits, -1), state, step, DecoderState.select, 3, 5, EOS, reorder=DecoderState.reorder)
    assert seen and set(seen) == {(3 * len(SOURCES), len(SOURCES))}


@pytest.mark.parametrize("beam", [None, 3])
def test_each_source_has_its_own_length_cap(beam):
    """Caps per source: an output stops at its own cap (or <eos>), and a source's output is the one it gets alone."""
    model = tiny("luong", seed=3)  # untrained: some outputs end at <eos>, some at their cap
    sources = many_sources(6, seed=2)
    caps = [2, 9, 4, 1, 6, 3]
    cfg = SampleConfig(greedy=beam is None, beam=beam, num=1, length=10)
    outs = translate(model, sources, cfg, max_length=caps)
    for out, cap, source in zip(outs, caps, sources):
        assert 1 <= len(out[0]) <= cap
        assert [out] == translate(model, [source], cfg, max_length=cap)
    assert sum(len(out[0]) == cap and out[0][-1] != EOS for out, cap in zip(outs, caps)) >= 2
