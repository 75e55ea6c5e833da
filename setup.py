"""Builds the one compiled part of untwine: the exact tree-split search of the metrics'
``fast`` preset (src/untwine/metrics/_gbt_native.c). The extension is optional: where
no C compiler is found the install still succeeds and the preset falls back to a
slower NumPy path (a warning says so). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "untwine.metrics._gbt_native",
            sources=["src/untwine/metrics/_gbt_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
