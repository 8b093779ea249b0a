"""Evaluation metrics of the paper's protocols (composer Table 2, performer Table 4)."""
