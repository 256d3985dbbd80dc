"""What `eval` says of an encoder-decoder's outputs: BLEU only where it means something, chrF and exact match always."""

from __future__ import annotations

import pytest

from seqgen.evaluation.pairs import text_figures


def test_bleu_is_not_a_number_when_no_output_has_four_tokens():
    """Sums are one token: corpus BLEU's 4-gram precision is 0/0, and sacrebleu's 0.0 would read as 'all wrong'."""
    figures = text_figures(["168", "1586", "915"], ["168", "1586", "914"], "13a")
    assert figures["bleu"]["score"] is None and figures["bleu"]["hyp_ngrams"] == [3, 0, 0, 0]
    assert figures["exact_match"] == pytest.approx(2 / 3) and figures["chrf"]["score"] > 50


def test_bleu_is_sacrebleus_where_outputs_have_four_tokens():
    import sacrebleu

    hyps, refs = ["le chat est sur le tapis", "il pleut des cordes ce soir"], ["le chat est sur le tapis", "il pleut beaucoup ce soir"]
    figures = text_figures(hyps, refs, "13a")
    assert figures["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert figures["bleu"]["hyp_ngrams"] == [12, 10, 8, 6]
