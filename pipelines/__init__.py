"""Inference pipelines of cadenza_hf (installed as ``cadenza_hf.pipelines``)."""
