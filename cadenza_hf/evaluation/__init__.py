"""Evaluation metrics and the evaluation entry points (research tooling).

- :mod:`.similarity`: the paper's composition similarity measures;
- :mod:`.expressiveness`: performance measures (Table 4 and human-likeness figures);
- :mod:`.evaluate_composer`, :mod:`.evaluate_performer`: ``cadenza evaluate composer|performer``;
- :mod:`.reporting`: report sections shared with the benchmark scripts.
"""
