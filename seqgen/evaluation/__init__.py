"""What `eval`, `bleu` and `plot` compute: likelihood, n-gram baselines, BLEU via sacrebleu, the eval report,
and plots."""
