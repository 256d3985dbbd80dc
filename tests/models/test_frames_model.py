"""The piano-roll model: the likelihood it assigns (checked by hand), the autoregressive head's normalisation, and
sampling that becomes deterministic as the temperature goes to 0."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from seqgen.config import FramesConfig
from seqgen.data.frames import FrameSplit
from seqgen.evaluation.frames import score_frames
from seqgen.models.frames import KEYS, START, FramesModel, NADEHead, generate_frames, start_inputs
from seqgen.models.generate import cpu_generator

C4, E4 = 60 - 21, 64 - 21  # columns


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def hand_built_model() -> FramesModel:
    """A tanh RNN of one unit whose state after reading a frame is tanh(1) when C4 sounds in it and 0 otherwise, and
    whose output gives every key the logit -1, plus 2 * state for C4."""
    model = FramesModel(FramesConfig(cell="rnn", layers=1, hidden=1, embed=1, dropout=0.0))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.encode.weight[0, C4] = 1.0  # the dense encoding is 1 when C4 sounds, else 0 (the start bit adds 0)
        model.rnn.weight_ih_l0.fill_(1.0)  # state = tanh(encoding); no recurrence
        model.head.out.weight[C4, 0] = 2.0
        model.head.out.bias.fill_(-1.0)
    return model


def split_of(*pieces: list[list[int]]) -> FrameSplit:
    rolls = [np.zeros((len(p), KEYS), dtype=bool) for p in pieces]
    for roll, piece in zip(rolls, pieces):
        for t, columns in enumerate(piece):
            roll[t, columns] = True
    bits = np.packbits(np.concatenate(rolls), axis=1)
    return FrameSplit(bits, np.cumsum([0] + [len(p) for p in pieces]))


def test_the_nll_of_a_two_frame_piece_is_the_one_worked_out_by_hand():
    """Piece: {C4}, then {C4, E4}. Frame 0 is predicted from the empty state: every key has logit -1, so C4 (on) costs
    -log sigmoid(-1) = softplus(1) and each of the 87 others (off) -log(1 - sigmoid(-1)) = softplus(-1). Frame 1 is
    predicted after reading {C4}: C4's logit is -1 + 2 tanh(1), so C4 (on) costs softplus(1 - 2 tanh(1)), E4 (on)
    softplus(1) and the 86 others softplus(-1). The figure is the mean over the two frames."""
    frame0 = softplus(1) + 87 * softplus(-1)
    frame1 = softplus(1 - 2 * math.tanh(1)) + softplus(1) + 86 * softplus(-1)
    lik = score_frames(hand_built_model(), split_of([[C4], [C4, E4]]))
    assert lik.tokens == 2
    assert lik.nats == pytest.approx((frame0 + frame1) / 2, rel=1e-6)
    assert lik.nll_sum == pytest.approx(frame0 + frame1, rel=1e-6)


def test_every_frame_counts_equally_and_each_piece_starts_empty():
    """Two pieces scored together: the sum of each scored alone (no state crosses from one piece to the next), over
    all their frames, so the three-frame piece weighs three times the one-frame piece."""
    model = hand_built_model()
    long, short = [[C4], [C4, E4], [E4]], [[C4]]
    together = score_frames(model, split_of(long, short))
    alone = [score_frames(model, split_of(p)) for p in (long, short)]
    assert together.tokens == 4
    assert together.nll_sum == pytest.approx(sum(a.nll_sum for a in alone), rel=1e-6)
    assert alone[1].nll_sum == pytest.approx(softplus(1) + 87 * softplus(-1), rel=1e-6)  # from the empty state


def test_the_autoregressive_head_gives_every_chord_a_probability_and_they_sum_to_one():
    torch.manual_seed(0)
    keys = 5
    head = NADEHead(hidden=3, size=4, keys=keys).double()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()  # far from the initial values, so the keys depend on one another
    h = torch.randn(1, 3, dtype=torch.float64)
    chords = torch.tensor(list(itertools.product([0.0, 1.0], repeat=keys)), dtype=torch.float64)  # (32, 5): every chord
    logits = head.logits(h.expand(len(chords), 3), chords)
    log_p = -F.binary_cross_entropy_with_logits(logits, chords, reduction="none").sum(-1)  # (32,)
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-12)
    # and it is not the product of independent keys: a key's logit changes with the keys chosen below it
    assert not torch.allclose(logits[0], logits[-1])


def test_the_autoregressive_head_samples_what_it_scores():
    """Drawn frames follow the head's own chord probabilities (4 keys, 20,000 draws, each chord within 0.015)."""
    torch.manual_seed(1)
    head = NADEHead(hidden=2, size=3, keys=4).double()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    h = torch.randn(1, 2, dtype=torch.float64)
    draws = head.sample(h.expand(20_000, 2), 1.0, cpu_generator(3))
    chords = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64)
    p = torch.exp(-F.binary_cross_entropy_with_logits(head.logits(h.expand(16, 2), chords), chords, reduction="none").sum(-1))
    freq = torch.stack([(draws == c).all(1).double().mean() for c in chords])
    assert torch.allclose(freq, p, atol=0.015)


@pytest.mark.parametrize("output", ["bernoulli", "autoregressive"])
def test_sampling_at_a_temperature_near_zero_is_deterministic(output):
    torch.manual_seed(0)
    model = FramesModel(FramesConfig(hidden=16, embed=8, layers=1, output=output, head_size=8))
    cold = [generate_frames(model, 12, 3, 1e-6, cpu_generator(seed)) for seed in (1, 2)]
    assert torch.equal(cold[0], cold[1])  # the seed no longer matters
    assert torch.equal(cold[0][0], cold[0][1])  # nor which of the --num samples
    warm = [generate_frames(model, 12, 3, 1.0, cpu_generator(seed)) for seed in (1, 2)]
    assert not torch.equal(warm[0], warm[1])
    assert torch.equal(warm[0], generate_frames(model, 12, 3, 1.0, cpu_generator(1)))  # the same seed, the same music


def test_the_first_frame_is_read_from_the_start_bit():
    frames = torch.zeros(1, 3, KEYS)
    frames[0, :, C4] = 1.0
    inputs = start_inputs(frames)  # (1, 3, 89)
    assert inputs[0, 0, START] == 1 and inputs[0, 0, :KEYS].sum() == 0  # step 0 reads nothing but the start bit
    assert torch.equal(inputs[0, 1:, :KEYS], frames[0, :-1]) and inputs[0, 1:, START].sum() == 0
