"""Ways to look at (and listen to) results: piano-roll pictures, audio renders.

Optional dependencies (matplotlib, a synthesizer) are imported on call, with a clear error
naming the extra to install when missing.
"""
