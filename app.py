"""Hugging Face Space entry point: the package's web app, unchanged (see README, "Listen and demo").

A Space running this file needs ``cadenza_hf[demo,audio]`` installed (its requirements.txt).
"""

from cadenza_hf.app import launch

if __name__ == "__main__":
    launch()
