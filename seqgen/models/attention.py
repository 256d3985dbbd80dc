"""Attention over the encoder's states, for the decoder of `seqgen.models.seq2seq`.

The keys are projected once per source (`keys`), not once per decoder step, and passed back in with every
query: nothing is kept on the module between calls. Padding is masked with -inf before the softmax, so its
weights are exactly 0 and each row of weights sums to 1.
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
        """query (B, Q), keys (B, S, ·) -> (B, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys, memory (B, S, M), mask (B, S) True on real tokens -> context (B, M), weights (B, S)."""
        scores = self.scores(query, keys).masked_fill(~mask, float("-inf"))  # (B, S)
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, M)
        return context, weights


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
        return self.energy(torch.tanh(keys + self.query_layer(query).unsqueeze(1))).squeeze(-1)  # (B, S)


class LuongAttention(Attention):
    """Multiplicative "general" attention: score = q·W_a k (Luong et al. 2015, arXiv 1508.04025, Eq. 8)."""

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.key_layer = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_layer(memory)  # (B, S, Q): W_a k for every source position

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S)
