"""Helpers shared by the tests, imported as ``tests.helpers.<module>``.

- ``exact``: closed forms and numerical integrals that estimators are checked against.
- ``tiny``: a tiny procedural dataset and training config for fast end-to-end tests.
- ``cases``: representations with known metric answers (perfect, rotated, duplicated, noise).
- ``toys``: a toy ground-truth dataset and a recording representation for the metric samplers.
- ``study``: writing a tiny study spec and fingerprinting a study directory.
"""
