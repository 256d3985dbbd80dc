"""The encoder–decoder: a (bidirectional) recurrent encoder reads the source; a recurrent decoder writes the
target one token at a time, attending to the encoder's states.

- Encoder: embedding -> stacked LSTM/GRU/RNN over packed sequences (padding never enters the recurrence),
  both directions by default (Schuster & Paliwal 1997); its final states, joined per layer through a tanh
  "bridge", start the decoder.
- Decoder, by `attention`:
  - `luong`: the RNN reads [embedding; previous attentional vector] ("input feeding"), then attends with its
    new top state and outputs h̃ = tanh(W_c [h; c]) (Luong et al. 2015, arXiv 1508.04025, Eqs. 5 and 8, §3.3);
  - `bahdanau`: attends with its previous top state, then the RNN reads [embedding; context]
    (Bahdanau et al. 2015, arXiv 1409.0473, §3.1 and A.1.2); output tanh(W_c [h; c]);
  - `peek`: no attention, but the source's summary c (the encoder's final states, both directions) is read at
    every step: the RNN reads [embedding; c] and the output is tanh(W_c [h; embedding; c]) (Cho et al. 2014,
    arXiv 1406.1078, §2.2, Eqs. 4–5 and A.1.1: the decoder state and the output both depend on c), the "peeking"
    encoder–decoder of the lectures;
  - `beats`: no learnt attention; output k reads the encoder's state at the source's k-th mark (`marks`: the ids
    of melody -> chords' `bar` and `beat`), as input and at the output like an attention context. Why: one chord
    per beat is a known alignment, and content-based attention cannot count marks that all look alike;
  - `none`: no attention; the decoder sees the source only through its first state (Sutskever et al. 2014),
    the plain encoder–decoder of the lectures.
- Training uses teacher forcing; with `teacher_forcing` < 1 each decoder input is, per row and step, the
  model's own previous choice with probability 1 - r (scheduled sampling, Bengio et al. 2015).

The decoder is stepped one token at a time both in training and in generation (`step`), so the two compute
the same thing; `DecoderState.reorder` lets a batched beam search move its hypotheses, sharing each source's encoder states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqgen.config import Seq2SeqConfig
from seqgen.models.attention import Attention, BahdanauAttention, LuongAttention

PAD, BOS, EOS = 0, 2, 3  # ids of <pad>, <bos>, <eos> on every side (seqgen.data.pairs.SPECIALS)
_RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


@dataclass
class DecoderState:
    """Everything a decoder step needs, batch-first in every field but `hidden`/`cell` (L, N, H).

    The encoder's fields (`memory`, `keys`, `mask`) have a row per source, B; the decoder's N = B·G, G consecutive
    rows per source (a beam search's hypotheses; G = 1 otherwise)."""

    hidden: torch.Tensor  # (L, N, H)
    cell: torch.Tensor | None  # (L, N, H) for an LSTM
    feed: torch.Tensor | None  # (N, H): the last attentional vector (luong's input feeding)
    memory: torch.Tensor  # (B, S, M) encoder states
    keys: torch.Tensor | None  # (B, S, ·) projected once per source
    mask: torch.Tensor  # (B, S) True on real source tokens
    weights: torch.Tensor | None = None  # (N, S) the last step's attention, for plots
    summary: torch.Tensor | None = None  # (B, M) the encoder's final states, read at every step by `peek`
    marks: torch.Tensor | None = None  # (B, K) `beats`: where each source's marks are, in order (the last repeated)
    steps: int = 0  # decoder steps taken: `beats` reads mark `steps` (every row steps together)

    def select(self, index: torch.Tensor) -> "DecoderState":
        """Rows `index` of every field (one row per source in and out: G = 1)."""

        def rows(t: torch.Tensor | None, dim: int = 0) -> torch.Tensor | None:
            return None if t is None else t.index_select(dim, index)

        return DecoderState(rows(self.hidden, 1), rows(self.cell, 1), rows(self.feed), rows(self.memory),  # type: ignore[arg-type]
                            rows(self.keys), rows(self.mask), rows(self.weights), rows(self.summary), rows(self.marks), self.steps)  # type: ignore[arg-type]

    def reorder(self, index: torch.Tensor) -> "DecoderState":
        """Rows `index` of the decoder's fields only, for a beam search whose rows stay among their source's G
        (copying each source to its G hypotheses, then choosing among them): the encoder's fields stay one row per
        source, read by all of its hypotheses, instead of being copied to each and gathered again at every step."""
        rows = lambda t, dim=0: None if t is None else t.index_select(dim, index)  # noqa: E731
        return DecoderState(rows(self.hidden, 1), rows(self.cell, 1), rows(self.feed), self.memory, self.keys, self.mask,  # type: ignore[arg-type]
                            rows(self.weights), self.summary, self.marks, self.steps)


class Seq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        cfg.check()
        self.cfg = cfg
        dirs = 2 if cfg.bidirectional else 1
        memory = cfg.hidden * dirs
        self.drop = nn.Dropout(cfg.dropout)
        self.src_embed = nn.Embedding(cfg.src_vocab, cfg.embed, padding_idx=PAD)
        kwargs = {"nonlinearity": "tanh"} if cfg.cell == "rnn" else {}
        self.encoder = _RNNS[cfg.cell](cfg.embed, cfg.hidden, num_layers=cfg.layers, batch_first=True, bidirectional=cfg.bidirectional,
                                       dropout=cfg.dropout if cfg.layers > 1 else 0.0, **kwargs)
        self.bridge = nn.Linear(memory, cfg.hidden)  # final encoder state(s) of a layer -> the decoder's first state
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, cfg.embed, padding_idx=PAD)
        extra = {"luong": cfg.hidden, "bahdanau": memory, "peek": memory, "beats": memory, "none": 0}[cfg.attention]
        self.cells = nn.ModuleList(_CELLS[cfg.cell](cfg.embed + extra if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers))
        self.attention: Attention | None = None
        if cfg.attention == "luong":
            self.attention = LuongAttention(cfg.hidden, memory)
        elif cfg.attention == "bahdanau":
            self.attention = BahdanauAttention(cfg.hidden, memory, cfg.hidden)
        self.combine: nn.Linear | None = None  # [h; context] (attention, beats) or [h; embedding; summary] (peek) -> the output
        if self.attention is not None or cfg.attention == "beats":
            self.combine = nn.Linear(cfg.hidden + memory, cfg.hidden)
        elif cfg.attention == "peek":
            self.combine = nn.Linear(cfg.hidden + cfg.embed + memory, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.tgt_vocab)
        if cfg.tie_weights:
            self.head.weight = self.tgt_embed.weight  # (V, H) == (V, E) when embed == hidden

    # ------------------------------------------------------------ encoder

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> DecoderState:
        """src (B, S) padded with 0, lengths (B,) -> the decoder's first state, holding the encoder's states."""
        x = self.drop(self.src_embed(src))  # (B, S, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B, S, M)
        h, c = final if isinstance(final, tuple) else (final, None)  # (L·dirs, B, H)
        hidden = self._bridge(h)
        cell = self._bridge(c) if c is not None else None
        mask = src != PAD  # (B, S)
        keys = self.attention.keys(memory) if self.attention is not None else None
        feed = memory.new_zeros(src.size(0), self.cfg.hidden) if self.cfg.attention == "luong" else None
        summary = self._summary(h) if self.cfg.attention == "peek" else None
        marks = self._marks(src) if self.cfg.attention == "beats" else None
        return DecoderState(hidden, cell, feed, memory, keys, mask, summary=summary, marks=marks)

    def _marks(self, src: torch.Tensor) -> torch.Tensor:
        """(B, S) source ids -> (B, K) the positions of each row's marks in order, K the most any row has; a row with
        fewer repeats its last (a row with none reads its last token)."""
        found = torch.isin(src, torch.tensor(self.cfg.marks, device=src.device))  # (B, S)
        length = src.size(1)
        where = torch.where(found, torch.arange(length, device=src.device).expand_as(src), length)
        positions = where.sort(dim=1).values[:, : max(1, int(found.sum(dim=1).max()))]  # (B, K); `length` past a row's marks
        last = positions.gather(1, (found.sum(dim=1, keepdim=True) - 1).clamp(min=0))
        fallback = torch.where(last < length, last, (src != PAD).sum(dim=1, keepdim=True) - 1)  # no mark: the last real token
        return torch.where(positions < length, positions, fallback)

    def _summary(self, final: torch.Tensor) -> torch.Tensor:
        """(L·dirs, B, H) final hidden states -> (B, dirs·H): the top layer's, both directions side by side."""
        dirs = 2 if self.cfg.bidirectional else 1
        return final[-dirs:].permute(1, 0, 2).reshape(final.size(1), -1)

    def _bridge(self, final: torch.Tensor) -> torch.Tensor:
        """(L·dirs, B, H) final states -> (L, B, H): both directions of a layer joined, through tanh(W·)."""
        layers, dirs = self.cfg.layers, 2 if self.cfg.bidirectional else 1
        joined = final.view(layers, dirs, final.size(1), final.size(2)).permute(0, 2, 1, 3).reshape(layers, final.size(1), -1)
        return torch.tanh(self.bridge(joined))

    # ------------------------------------------------------------ decoder

    def step(self, y: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One decoder step: previous tokens y (N,) -> logits (N, V) for the next token, and the new state."""
        emb = self.drop(self.tgt_embed(y))  # (N, E)
        context = weights = None
        if self.cfg.attention == "bahdanau":
            context, weights = self.attention(state.hidden[-1], state.keys, state.memory, state.mask)  # query: the previous top state
            inp = torch.cat([emb, context], dim=-1)
        elif self.cfg.attention == "luong":
            inp = torch.cat([emb, state.feed], dim=-1)  # input feeding
        elif self.cfg.attention == "peek":
            summary = state.summary.repeat_interleave(emb.size(0) // state.summary.size(0), dim=0)  # (N, M): a source's rows read its summary
            inp = torch.cat([emb, summary], dim=-1)
        elif self.cfg.attention == "beats":
            rows = state.memory.size(0)
            at = state.marks[:, min(state.steps, state.marks.size(1) - 1)]  # (B,) where this step's mark is
            context = state.memory[torch.arange(rows, device=at.device), at].repeat_interleave(emb.size(0) // rows, dim=0)  # (N, M)
            weights = torch.zeros_like(state.mask, dtype=context.dtype).scatter(1, at.unsqueeze(1), 1.0).repeat_interleave(emb.size(0) // rows, dim=0)
            inp = torch.cat([emb, context], dim=-1)
        else:
            inp = emb
        hs, cs = [], []
        for layer, cell_module in enumerate(self.cells):
            if state.cell is not None:
                h, c = cell_module(inp, (state.hidden[layer], state.cell[layer]))
                cs.append(c)
            else:
                h = cell_module(inp, state.hidden[layer])
            hs.append(h)
            inp = self.drop(h)  # between layers
        top = hs[-1]  # (N, H)
        if self.cfg.attention == "luong":
            context, weights = self.attention(top, state.keys, state.memory, state.mask)
        if context is not None:
            out = torch.tanh(self.combine(torch.cat([top, context], dim=-1)))  # (N, H)
        elif self.cfg.attention == "peek":
            out = torch.tanh(self.combine(torch.cat([top, emb, summary], dim=-1)))
        else:
            out = top
        new = DecoderState(torch.stack(hs), torch.stack(cs) if cs else None, out if self.cfg.attention == "luong" else None,
                           state.memory, state.keys, state.mask, weights, state.summary, state.marks, state.steps + 1)
        return self.head(self.drop(out)), new

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoding: src (B, S), lengths (B,), tgt_in (B, T) = <bos> y1 … -> logits (B, T, V)."""
        state = self.encode(src, lengths)
        ratio = self.cfg.teacher_forcing if self.training else 1.0
        logits = []
        y = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            if t > 0:
                y = tgt_in[:, t]
                if ratio < 1.0:  # scheduled sampling: some rows read the model's own last choice
                    own = logits[-1].argmax(dim=-1)
                    y = torch.where(torch.rand(y.shape, device=y.device) < ratio, y, own)
            step_logits, state = self.step(y, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (B, T, V)
