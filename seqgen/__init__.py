"""seqgen: learn from text or music with recurrent networks and write new text or music."""

__version__ = "0.1.0"
