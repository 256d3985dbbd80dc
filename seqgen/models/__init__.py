"""The networks and how they generate: the recurrent language model, its per-token stepper, and decoding
(sampling, greedy, beam search)."""
