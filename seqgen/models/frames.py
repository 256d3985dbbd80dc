"""The piano-roll model: each frame (88 keys, multi-hot) -> dense -> stacked RNN/LSTM/GRU -> a distribution over the
next frame, from one of two output heads.

The input at step t is frame t - 1, plus a start bit that is on at step 0 only, so frame 0 is predicted from an empty
state and the output after step t is the distribution of frame t: exactly the protocol the literature scores.

- `BernoulliHead`: 88 independent sigmoids (the setting of Chung et al. 2014 and Bai et al. 2018).
- `NADEHead`: the keys of a frame one after another, low to high, each conditioned on the recurrent state and on the
  keys already chosen in the frame (RNN-NADE, Boulanger-Lewandowski et al. 2012); it can model chords, which
  independent sigmoids cannot.
Both give per-key logits for a known frame, so the loss of either is the summed binary cross-entropy over the keys.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqgen.config import KEYS, FramesConfig
from seqgen.models.rnn_lm import State

START = KEYS  # the input column of the start bit
KEY_BIAS = -3.0  # logit of about 4 keys in 88 sounding: where the output biases start, instead of 0 (half the keys on)

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def bernoulli_draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Keys on with probability sigmoid(logit / temperature), one uniform number per key; (N, K) -> (N, K) float 0/1.

    As the temperature goes to 0 every probability goes to 0 or 1, so the draw becomes the threshold `logit > 0`."""
    probs = torch.sigmoid(logits.double() / temperature)
    u = torch.rand(probs.shape, generator=generator, dtype=torch.float64)
    return (u < probs.cpu()).to(logits.dtype).to(logits.device)


class BernoulliHead(nn.Module):
    """p(x_t | h_t) = prod_i sigmoid(b_i + V_i h_t)^x_i (1 - sigmoid(b_i + V_i h_t))^(1 - x_i): 88 independent keys."""

    def __init__(self, hidden: int, keys: int = KEYS):
        super().__init__()
        self.out = nn.Linear(hidden, keys)
        nn.init.constant_(self.out.bias, KEY_BIAS)

    def logits(self, h: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """h (N, H), the frames scored (N, K; unused: the keys are independent) -> logits (N, K)."""
        return self.out(h)

    def sample(self, h: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """h (N, H) -> one drawn frame per row, (N, K) of 0/1."""
        return bernoulli_draw(self.out(h), temperature, generator)


class NADEHead(nn.Module):
    """A NADE over a frame's keys whose biases come from the recurrent state: the RNN-NADE of Boulanger-Lewandowski et
    al. (2012), which takes the RNN-RBM's time-dependent biases and puts a NADE where the RBM was:

        b_v(t) = b_v + W_uv u(t-1)        b_h(t) = b_h + W_uh u(t-1)            (u: the recurrent state)
        h_i = sigmoid(b_h(t) + W_{:,<i} v_{<i})        p(v_i = 1 | v_{<i}) = sigmoid(b_v(t)_i + V_i . h_i)

    the second line being the NADE of Larochelle & Murray (2011), here over the keys in ascending pitch. All K
    conditionals of a known frame come in one pass (see `logits`); sampling walks the keys one at a time."""

    def __init__(self, hidden: int, size: int, keys: int = KEYS):
        super().__init__()
        self.visible_bias = nn.Linear(hidden, keys)  # b_v + W_uv u
        nn.init.constant_(self.visible_bias.bias, KEY_BIAS)
        self.hidden_bias = nn.Linear(hidden, size)  # b_h + W_uh u
        self.w_in = nn.Parameter(torch.randn(keys, size) * 0.01)  # (K, S): key j's input to the hidden units of keys above it
        self.w_out = nn.Parameter(torch.randn(keys, size) * 0.01)  # (K, S): V, key i's output weights

    def logits(self, h: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """h (N, H), the frames scored (N, K) of 0/1 -> the logit of each key given the keys below it, (N, K).

        Key i's hidden layer sums W over the keys on below i, so it changes only past a key that is on: a frame with m
        keys on has m + 1 distinct hidden layers. They are computed once each ((N, m + 1, S), not (N, K, S)), every
        key's logit under each of them ((N, m + 1, K)), and key i takes the one for the keys on below it."""
        on = frames > 0.5  # (N, K)
        count = on.sum(1)  # (N,)
        m = int(count.max()) if len(count) else 0
        keys_on = torch.argsort((~on).to(torch.int8), dim=1, stable=True)[:, :m]  # (N, m): the keys on, ascending
        present = (torch.arange(m, device=h.device) < count.unsqueeze(1)).unsqueeze(-1)  # (N, m, 1): padding is 0
        below = torch.cumsum(self.w_in[keys_on] * present, dim=1)  # (N, m, S): W summed over the first j + 1 keys on
        hidden = torch.sigmoid(self.hidden_bias(h).unsqueeze(1) + F.pad(below, (0, 0, 1, 0)))  # (N, m + 1, S)
        every = hidden @ self.w_out.t()  # (N, m + 1, K): each key's output term under each distinct hidden layer
        segment = (torch.cumsum(on, dim=1) - on.long()).unsqueeze(1)  # (N, 1, K): how many keys below i are on
        return self.visible_bias(h) + every.gather(1, segment).squeeze(1)  # (N, K)

    def sample(self, h: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """h (N, H) -> one drawn frame per row (N, K), each key drawn given the keys already drawn below it."""
        visible, acc = self.visible_bias(h), self.hidden_bias(h)  # (N, K), (N, S)
        keys = []
        for i in range(visible.shape[1]):
            logit = visible[:, i : i + 1] + (torch.sigmoid(acc) * self.w_out[i]).sum(-1, keepdim=True)  # (N, 1)
            on = bernoulli_draw(logit, temperature, generator)  # (N, 1)
            acc = acc + on * self.w_in[i]
            keys.append(on)
        return torch.cat(keys, dim=1)


class FramesModel(nn.Module):
    """Frames in, per-frame negative log-likelihood out (training and scoring); `step` for sampling."""

    def __init__(self, cfg: FramesConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.encode = nn.Linear(KEYS + 1, cfg.embed)  # multi-hot frame and start bit -> dense: a sum of key embeddings
        self.drop = nn.Dropout(cfg.dropout)
        kwargs = {"nonlinearity": "tanh"} if cfg.cell == "rnn" else {}
        self.rnn = _CELLS[cfg.cell](cfg.embed, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                                    dropout=cfg.dropout if cfg.layers > 1 else 0.0, **kwargs)
        self.head: BernoulliHead | NADEHead = (
            BernoulliHead(cfg.hidden) if cfg.output == "bernoulli" else NADEHead(cfg.hidden, cfg.head_size))
        if cfg.cell == "lstm":  # forget-gate bias 1: remember by default early in training (Jozefowicz et al., 2015)
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        param[cfg.hidden : 2 * cfg.hidden].fill_(1.0)

    def run(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """inputs (B, T, K + 1) -> the recurrent output after each step (B, T, H), dropout applied, and the last state."""
        out, state = self.rnn(self.drop(self.encode(inputs)), state)
        return self.drop(out), state

    def forward(self, inputs: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """inputs (B, T, K + 1), the frames they predict (B, T, K), mask (B, T) of real (not padding) frames ->
        the negative log-likelihood of each real frame in nats, summed over its keys, (N,) in row-major order."""
        out, _ = self.run(inputs)
        h, target = out[mask], frames[mask]  # (N, H), (N, K)
        return F.binary_cross_entropy_with_logits(self.head.logits(h, target), target, reduction="none").sum(-1)

    def step(self, frame: torch.Tensor | None, state: State | None, rows: int) -> tuple[torch.Tensor, State]:
        """One step of sampling: the previous frame (N, K), or None at the start -> h (N, H) and the new state."""
        inputs = torch.zeros(rows, 1, KEYS + 1, device=self.encode.weight.device)  # (N, 1, K + 1)
        if frame is None:
            inputs[:, 0, START] = 1.0
        else:
            inputs[:, 0, :KEYS] = frame
        out, state = self.run(inputs, state)
        return out[:, 0], state


def start_inputs(frames: torch.Tensor) -> torch.Tensor:
    """What the model reads to predict `frames` (B, T, K): the start bit, then frames 0..T-2; (B, T, K + 1)."""
    inputs = torch.zeros(frames.shape[0], frames.shape[1], KEYS + 1, dtype=frames.dtype, device=frames.device)
    inputs[:, 0, START] = 1.0
    inputs[:, 1:, :KEYS] = frames[:, :-1]
    return inputs


def padded(rolls: list[np.ndarray], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Whole pieces as one batch, padded at the end: (inputs (B, T, K + 1), frames (B, T, K), mask (B, T)).

    Each piece starts from the start bit, so each is scored from an empty state; padding after a piece's end changes
    nothing before it (the network reads forward only) and the mask leaves it out of the loss."""
    length = max(len(r) for r in rolls)
    frames = np.zeros((len(rolls), length, KEYS), dtype=np.float32)
    mask = np.zeros((len(rolls), length), dtype=bool)
    for i, roll in enumerate(rolls):
        frames[i, : len(roll)] = roll
        mask[i, : len(roll)] = True
    frames_t = torch.from_numpy(frames).to(device)
    return start_inputs(frames_t), frames_t, torch.from_numpy(mask).to(device)


@torch.no_grad()
def generate_frames(model: FramesModel, length: int, num: int, temperature: float, generator: torch.Generator | None,
                    prime: torch.Tensor | None = None) -> torch.Tensor:
    """`num` pieces of `length` new frames, drawn one frame at a time with the state carried; (num, length, K) 0/1.

    `prime` (P, K) frames are read first (the same for every piece) and continued."""
    was_training = model.training
    model.eval()
    try:
        h, state = model.step(None, None, num)
        for frame in prime if prime is not None else []:
            h, state = model.step(frame.expand(num, KEYS), state, num)
        out = []
        for _ in range(length):
            frame = model.head.sample(h, temperature, generator)  # (num, K)
            out.append(frame)
            h, state = model.step(frame, state, num)
        return torch.stack(out, dim=1)
    finally:
        model.train(was_training)
