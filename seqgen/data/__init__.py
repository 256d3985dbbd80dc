"""Text and datasets: the tokenizer interface, character and word tokenizers, vocabularies, dataset folders,
`prepare` for text, and the built-in corpora."""
