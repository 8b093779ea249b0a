"""Training entry points (research tooling; inference never imports this).

``cadenza train composer ...`` runs :func:`cadenza_hf.training.composer.main`,
``cadenza train performer ...`` :func:`cadenza_hf.training.performer.main`
(also ``python -m cadenza_hf.training.composer``). Shared pieces (Trainer subclass, KL
schedule, training records and lineage) are in :mod:`.trainer`; shipped presets in
``configs/`` (``--config composer_small``).
"""
