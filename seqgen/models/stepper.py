"""One step of a trained model for N sequences at once: the inner loop of sampling and beam search.

Why not `model(ids.view(N, 1), state)`: the fused nn.LSTM/GRU/RNN runs oneDNN's sequence kernel,
whose set-up at one time step costs far more than the arithmetic (a 2×512 LSTM managed ~310 steps/s
that way at batch 1). Here a layer is a matrix product per weight and the gate arithmetic, in eval
mode (no dropout), computing what the fused module computes (same logits within 1e-5).

Measured choices (benchmarks/README.md): the weights are used transposed and contiguous, (in, gates),
because on two threads the matrix-vector product against PyTorch's (gates, in) layout is 3× slower
at 2×512; and layer 0's input projection of every token is a precomputed table when the vocabulary
is small (characters, notes), so that matrix product disappears. Both are copies: a Stepper is a
snapshot of the weights, made per generation call (milliseconds), not kept across training.
"""

from __future__ import annotations

from typing import Callable

import torch

from seqgen.models.rnn_lm import RNNLanguageModel, State

TABLE_BYTES = 8 << 20  # layer 0's (vocabulary, gates) input table up to this size; larger vocabularies multiply per step


class Stepper:
    """`stepper(ids (N,), state) -> (logits (N, V), state)`, states in the model's own (L, N, H) layout."""

    @torch.no_grad()
    def __init__(self, model: RNNLanguageModel):
        rnn = model.rnn
        self.cell, self.layers = model.cfg.cell, model.cfg.layers
        self.act = torch.relu if getattr(rnn, "nonlinearity", "tanh") == "relu" else torch.tanh
        self.w_in, self.b_in, self.w_rec, self.b_rec = [], [], [], []
        for layer in range(self.layers):
            self.w_in.append(getattr(rnn, f"weight_ih_l{layer}").t().contiguous())  # (in, G·H)
            self.b_in.append(getattr(rnn, f"bias_ih_l{layer}").detach())  # (G·H,)
            self.w_rec.append(getattr(rnn, f"weight_hh_l{layer}").t().contiguous())  # (H, G·H)
            self.b_rec.append(getattr(rnn, f"bias_hh_l{layer}").detach())
        self.embed = model.embed.weight.detach()  # (V, E)
        self.head_w = model.head.weight.t().contiguous()  # (H, V)
        self.head_b = model.head.bias.detach()
        # LSTM and tanh/ReLU layers above the first: one product [x, h]·[W_ih; W_hh] instead of two.
        # (A GRU's candidate gate needs W_hn·h on its own, so its layers keep two products.)
        self.w_cat: list[torch.Tensor | None] = [None] * self.layers
        self.b_cat: list[torch.Tensor | None] = [None] * self.layers
        if self.cell != "gru":
            for layer in range(1, self.layers):
                w_cat = torch.cat([self.w_in[layer], self.w_rec[layer]])  # (in + H, G·H)
                rows = self.w_in[layer].shape[0]
                self.w_in[layer], self.w_rec[layer] = w_cat[:rows], w_cat[rows:]  # views: one copy of the weights, not two
                self.w_cat[layer], self.b_cat[layer] = w_cat, self.b_in[layer] + self.b_rec[layer]
        vocab, gates = self.embed.shape[0], self.w_in[0].shape[1]
        self.table = None
        if vocab * gates * self.embed.element_size() <= TABLE_BYTES:
            self.table = torch.addmm(self.b_in[0], self.embed, self.w_in[0])  # (V, G·H): layer 0's input gates per token

    def input_gates(self, ids: torch.Tensor) -> torch.Tensor:
        """Layer 0's input projection W_ih·x + b_ih for tokens (N,) -> (N, G·H)."""
        if self.table is not None:
            return self.table.index_select(0, ids)
        return torch.addmm(self.b_in[0], self.embed.index_select(0, ids), self.w_in[0])

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        lstm = self.cell == "lstm"
        hs, cs = (state[0], state[1]) if lstm else (state, None)  # (L, N, H)
        new_h, new_c = [], []
        x = None
        for layer in range(self.layers):
            h = hs[layer]
            w_cat = self.w_cat[layer]
            if w_cat is not None:  # LSTM/RNN above layer 0: all gates in one product
                gates = torch.addmm(self.b_cat[layer], torch.cat([x, h], dim=1), w_cat)  # (N, G·H)
            else:
                gi = self.input_gates(ids) if layer == 0 else torch.addmm(self.b_in[layer], x, self.w_in[layer])  # (N, G·H)
                gates = gi if self.cell == "gru" else torch.addmm(self.b_rec[layer], h, self.w_rec[layer]).add_(gi)
            if lstm:
                i, f, g, o = gates.chunk(4, dim=1)  # PyTorch's gate order
                c = torch.sigmoid(f) * cs[layer] + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                new_c.append(c)
            elif self.cell == "gru":
                gh = torch.addmm(self.b_rec[layer], h, self.w_rec[layer])  # (N, 3H): b_hn stays inside r * (...)
                ir, iz, i_n = gates.chunk(3, dim=1)
                hr, hz, h_n = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(i_n + r * h_n)
                h = n + z * (h - n)  # (1 - z) * n + z * h
            else:
                h = self.act(gates)
            new_h.append(h)
            x = h
        logits = torch.addmm(self.head_b, x, self.head_w)  # (N, V)
        out: State = (torch.stack(new_h), torch.stack(new_c)) if lstm else torch.stack(new_h)
        return logits, out



StepFn = Callable[[torch.Tensor, "State | None"], "tuple[torch.Tensor, State]"]


def step_function(model: torch.nn.Module) -> StepFn:
    """The per-token step for sampling and search: the fast `Stepper` for seqgen's own model, and a
    plain `model(ids (N, 1), state)` call for any other module with the same forward contract."""
    if isinstance(model, RNNLanguageModel):
        return Stepper(model)
    own = getattr(model, "step_function", None)  # a model with its own fast step (seqgen.models.mixture.MixedLM)
    if own is not None:
        return own()

    def call(ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        logits, state = model(ids.view(-1, 1), state)  # (N, 1, V)
        return logits[:, -1, :], state

    return call
