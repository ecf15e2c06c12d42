"""Data analysis: how sets of texts differ in embedding space and beyond (MAUVE, separability, diversity)."""
