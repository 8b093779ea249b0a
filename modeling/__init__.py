"""Model code of cadenza_hf (installed as ``cadenza_hf.modeling``).

Each subpackage imports only torch and transformers, so a model folder can be pushed to
the Hub as remote code on its own.
"""
