"""Sensitivity: which assumptions decide an answer. A study file names a model (or
an experiment's tier), uncertain parameters by dotted path, outputs and a method
(one-at-a-time tornado, Morris screening, Sobol indices from SALib, or an ensemble
of models with prediction bands and the probability of meeting the SLOs); its
design points run on the sweep's executors and results store.

Modules: ``study`` (the file format), ``loader`` (files in, validated studies out),
``design`` (SALib's samplers), ``runner``, ``analysis``, ``tiers`` (studies and
ensembles of each tier's recommendation), ``hypotheses`` (competing models).
"""
