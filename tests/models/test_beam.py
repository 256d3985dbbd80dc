"""Beam search: width 1 is greedy, a wider beam finds what greedy misses, end-of-sequence and batching behave."""

import math

import pytest
import torch
from torch import nn

from seqgen.config import ModelConfig, SampleConfig
from seqgen.errors import UsageError
from seqgen.models.generate import beam_search, continue_batch, generate
from seqgen.models.rnn_lm import RNNLanguageModel


class TableModel(nn.Module):
    """A fake language model: the next-token distribution depends only on the last token (a Markov table).

    The state is the last token, shaped like a GRU state (layers=1, B, 1), so beams reorder it as they would a real one.
    """

    def __init__(self, probs: list[list[float]]):
        super().__init__()
        self.logp = torch.tensor(probs).clamp_min(1e-9).log()  # (V, V)

    def forward(self, tokens, state=None):
        return self.logp[tokens], tokens[:, -1:].T.unsqueeze(-1).float()  # (B, T, V), (1, B, 1)


# 0: start; after it A(1) is likelier than B(2), but after A everything is uncertain and after B, C(3) is certain
TRAP = [
    [0.0, 0.6, 0.4, 0.0],
    [0.25, 0.25, 0.25, 0.25],
    [0.0, 0.0, 0.0, 1.0],
    [0.25, 0.25, 0.25, 0.25],
]


@torch.no_grad()
def logprob(model, prime, ids):
    logits, _ = model(torch.tensor([prime + ids]))
    logp = torch.log_softmax(logits[0, len(prime) - 1 : -1].float(), -1)
    return float(logp.gather(1, torch.tensor(ids).view(-1, 1)).sum())


def tiny_model(seed=0, cell="lstm"):
    torch.manual_seed(seed)
    return RNNLanguageModel(ModelConfig(vocab_size=11, cell=cell, layers=2, hidden=16, embed=8, dropout=0.0)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_beam_of_one_is_greedy(cell):
    model = tiny_model(1, cell)
    for prime in ([3], [1, 4, 1, 5]):
        greedy = generate(model, prime, SampleConfig(length=25, greedy=True))[0]
        (best, score), = beam_search(model, [prime], beam=1, length=25)[0]
        assert best == greedy
        assert score == pytest.approx(logprob(model, prime, greedy) / 25, abs=1e-5)


def test_wider_beam_beats_greedy_on_a_trap():
    model = TableModel(TRAP)
    greedy = continue_batch(model, [[0]], SampleConfig(length=2, greedy=True))[0]
    assert greedy[0] == 1
    (best, score), = beam_search(model, [[0]], beam=2, length=2)[0]
    assert best == [2, 3]
    assert logprob(model, [0], best) > logprob(model, [0], greedy)
    assert score == pytest.approx(math.log(0.4) / 2, abs=1e-6)


def test_beam_scores_are_ordered_and_match_the_model():
    model = tiny_model(2)
    results = beam_search(model, [[1, 2, 3]], beam=5, length=12, keep=5)[0]
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True) and len({tuple(ids) for ids, _ in results}) == 5
    for ids, s in results:
        assert s == pytest.approx(logprob(model, [1, 2, 3], ids) / 12, abs=1e-5)


def test_batched_primers_give_the_same_beams_as_one_at_a_time():
    model = tiny_model(3)
    primes = [[1, 2], [5, 5], [7, 0]]
    together = beam_search(model, primes, beam=3, length=10, keep=2)
    for prime, result in zip(primes, together):
        alone = beam_search(model, [prime], beam=3, length=10, keep=2)[0]
        assert [ids for ids, _ in result] == [ids for ids, _ in alone]


def test_end_of_sequence_finishes_hypotheses_with_length_normalisation():
    # after 0: eos(3) with 0.5 at once, or 1 then a sure 2 then eos: 0.5 * 1 * 1 over three tokens
    table = [[0.0, 0.5, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]]
    model = TableModel(table)
    best = beam_search(model, [[0]], beam=2, length=6, eos_id=3, keep=2)[0]
    assert best[0][0] == [1, 2, 3]  # log(0.5)/3 beats log(0.5)/1: normalisation favours the longer one
    assert best[1][0] == [3]
    assert best[0][1] == pytest.approx(math.log(0.5) / 3, abs=1e-6)
    unnormalised = beam_search(model, [[0]], beam=2, length=6, eos_id=3, alpha=0.0)[0]
    assert unnormalised[0][1] == pytest.approx(math.log(0.5), abs=1e-6)


def test_continue_batch_greedy_equals_generate_for_each_primer():
    model = tiny_model(4)
    primes = [[1, 2, 3], [4, 5, 6]]
    out = continue_batch(model, primes, SampleConfig(length=15, greedy=True))
    for prime, ids in zip(primes, out):
        assert ids == generate(model, prime, SampleConfig(length=15, greedy=True))[0]
    a = continue_batch(model, primes, SampleConfig(length=15, seed=7))
    assert a == continue_batch(model, primes, SampleConfig(length=15, seed=7))


def test_beam_options_are_checked():
    with pytest.raises(UsageError, match="--beam must be at least 1"):
        SampleConfig(beam=0).check()
    with pytest.raises(UsageError, match="--top-k does not apply to --beam"):
        SampleConfig(beam=2, top_k=5).check()
    with pytest.raises(UsageError, match="--num 3 is more than --beam 2"):
        SampleConfig(beam=2, num=3).check()


def test_sample_command_with_beam(cli, char_run):
    res = cli("sample", char_run, "--beam", "3", "--length", "30", "--prime", "ROMEO:")
    assert res.code == 0, res.err
    assert res.out.startswith("ROMEO:") and len(res.out) in (36, 37)  # the primer, 30 characters found, one line end
    again = cli("sample", char_run, "--beam", "3", "--length", "30", "--prime", "ROMEO:")
    assert again.out == res.out  # search is deterministic: no seed needed
    two = cli("sample", char_run, "--beam", "3", "--num", "2", "--length", "30")
    assert two.code == 0 and two.out.count("--- sample") == 2
    res = cli("sample", char_run, "--beam", "2", "--greedy")
    assert res.code == 2 and "--greedy does not apply to --beam" in res.err


def test_an_exact_length_keeps_the_end_out_until_it_is_reached_then_ends():
    # a decoder that would end at once: held to 3 ids it writes its next best three times, then ends
    from seqgen.models import search

    prefer_end = torch.tensor([[0.0, 0.1, 0.2, 5.0]])  # id 3 (the end) by far the likeliest
    step = lambda ids, state: (prefer_end.expand(len(ids), 4), state)  # noqa: E731
    greedy = search.decode_to_end(prefer_end.expand(2, 4), None, step, lambda lg: lg.argmax(-1), [10, 10], 3, exact_length=[3, 0])
    assert greedy == [[2, 2, 2, 3], [3]]
    first_ends_at_once = search.decode_to_end(prefer_end.expand(2, 4), None, step, lambda lg: lg.argmax(-1), [1, 10], 3, exact_length=[0, 3])
    assert first_ends_at_once == [[3], [2, 2, 2, 3]]  # a row that has ended does not hold the others back
    never_ends = torch.tensor([[0.0, 0.1, 5.0, -5.0]])
    step2 = lambda ids, state: (never_ends.expand(len(ids), 4), state)  # noqa: E731
    assert search.decode_to_end(never_ends, None, step2, lambda lg: lg.argmax(-1), [10], 3, exact_length=[3]) == [[2, 2, 2, 3]]
    beams = search.beam_search(torch.log_softmax(prefer_end.expand(2, 4), -1), None, step, lambda st, idx: st, 2, [10, 10], 3, exact_length=[3, 0])
    assert beams[0][0][0] == [2, 2, 2, 3] and beams[1][0][0] == [3]
