"""Small helpers every layer may use: atomic file writes, the kind vocabulary, seeding.

Standard library only (and numpy where noted); imports nothing else of cadenza_hf.
"""
