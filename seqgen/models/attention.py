"""Attention over the encoder's states, for the decoder of `seqgen.models.seq2seq`.

The keys are projected once per source (`keys`), not once per decoder step, and passed back in with every
query: nothing is kept on the module between calls. Padding is masked with -inf before the softmax, so its
weights are exactly 0 and each row of weights sums to 1.

A source may have several queries at once (a beam search's hypotheses, G consecutive rows per source): the
keys, memory and mask stay one row per source, and each source's G queries are scored in one matrix product,
rather than copying the source's states to every hypothesis and scoring each alone.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """score(query, memory) -> weights over the source positions -> context, the weighted sum of the memory."""

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """memory (B, S, M) -> what scoring needs of it, computed once per source."""
        raise NotImplementedError

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, G, Q): G queries per source, keys (B, S, ·) -> (B, G, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (N, Q), N = B·G (rows g·G … g·G + G - 1 query source g), keys, memory (B, S, M), mask (B, S) True on
        real tokens -> context (N, M), weights (N, S)."""
        n, sources = query.size(0), memory.size(0)
        scores = self.scores(query.view(sources, n // sources, -1), keys).masked_fill(~mask.unsqueeze(1), float("-inf"))  # (B, G, S)
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, memory)  # (B, G, M)
        return context.view(n, -1), weights.view(n, -1)


class BahdanauAttention(Attention):
    """Additive attention: score = v·tanh(W_q q + W_k k) (Bahdanau et al. 2015, arXiv 1409.0473, Section A.1.2)."""

    def __init__(self, query_size: int, memory_size: int, size: int):
        super().__init__()
        self.key_layer = nn.Linear(memory_size, size, bias=False)
        self.query_layer = nn.Linear(query_size, size, bias=False)
        self.energy = nn.Linear(size, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_layer(memory)  # (B, S, A)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.energy(torch.tanh(keys.unsqueeze(1) + self.query_layer(query).unsqueeze(2))).squeeze(-1)  # (B, G, S)


class LuongAttention(Attention):
    """Multiplicative "general" attention: score = q·W_a k (Luong et al. 2015, arXiv 1508.04025, Eq. 8)."""

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.key_layer = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_layer(memory)  # (B, S, Q): W_a k for every source position

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(query, keys.transpose(1, 2))  # (B, G, S)
