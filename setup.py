"""Builds the two compiled parts of untwine, both for the metrics' ``fast`` preset: the
exact tree-split search (src/untwine/metrics/_gbt_native.c) and the logistic-regression
loss (src/untwine/metrics/_lr_native.c). Both extensions are optional: where no C
compiler is found the install still succeeds and the preset falls back to slower
NumPy paths (a warning says so). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "untwine.metrics._gbt_native",
            sources=["src/untwine/metrics/_gbt_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "untwine.metrics._lr_native",
            sources=["src/untwine/metrics/_lr_native.c"],
            # no-trapping-math lets the softmax's selects vectorise; no other fast-math.
            extra_compile_args=["-O3", "-fno-trapping-math"],
            optional=True,
        ),
    ]
)
