"""Manifests of the built-in corpora (JSON), shipped inside the package as seqgen.corpora_manifests."""
