"""Truncated BPTT layout: parallel streams, consecutive windows, nothing copied."""

import numpy as np

from seqgen.data.dataset import batches, steps_per_epoch, stream_view


def test_stream_view_lays_out_parallel_streams_without_copying():
    ids = np.arange(13, dtype=np.uint16)
    view = stream_view(ids, 3)
    assert view.tolist() == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9, 10, 11, 12]]
    assert np.shares_memory(view, ids)


def test_windows_are_consecutive_so_state_can_carry_over():
    ids = np.arange(1000, dtype=np.uint16)
    windows = list(batches(stream_view(ids, 4), seq_len=10))
    assert len(windows) == steps_per_epoch(len(ids), 4, 10) == 24
    for (x0, y0), (x1, _) in zip(windows, windows[1:]):
        assert (x1[:, 0] == x0[:, -1] + 1).all()  # each stream continues exactly where it stopped
        assert (y0 == x0 + 1).all()  # targets are the next tokens
    assert windows[0][0].dtype == np.int64


def test_partial_windows_score_every_token():
    ids = np.arange(101, dtype=np.uint16)
    windows = list(batches(stream_view(ids, 2), seq_len=16, partial=True))
    assert sum(y.size for _, y in windows) == 100
    assert windows[-1][0].shape == (2, 50 - 48)
