"""Builds the two compiled kernels of the metrics' ``fast`` preset, each a C file behind a
Cython wrapper that checks every array (dtype, shape, contiguity) before C sees it:

* ``untwine.metrics._native_trees``: the exact tree-split search
  (``_native_trees.pyx`` around ``_split_search.c``);
* ``untwine.metrics._native_logistic``: the logistic-regression loss
  (``_native_logistic.pyx`` around ``_logistic_loss.c``).

Both are optional: where no C compiler is found the install still succeeds and the
preset falls back to its NumPy paths (one RuntimeWarning says so, see
``untwine/metrics/_native.py``). Cython comes from ``[build-system] requires``; a build
without it (``--no-build-isolation`` in an environment lacking Cython) skips the
kernels the same way. Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

METRICS = "src/untwine/metrics"


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        print(
            "untwine: Cython is not installed, so the metrics' compiled kernels are not built "
            "(the fast preset falls back to NumPy); install Cython>=3.0 and reinstall to build them"
        )
        return []
    modules = [
        Extension(
            "untwine.metrics._native_trees",
            sources=[f"{METRICS}/_native_trees.pyx", f"{METRICS}/_split_search.c"],
            depends=[f"{METRICS}/_split_search.h", f"{METRICS}/_native_checks.pxd"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "untwine.metrics._native_logistic",
            sources=[f"{METRICS}/_native_logistic.pyx", f"{METRICS}/_logistic_loss.c"],
            depends=[f"{METRICS}/_logistic_loss.h", f"{METRICS}/_native_checks.pxd"],
            # no-trapping-math lets the softmax's selects vectorise; no other fast-math.
            extra_compile_args=["-O3", "-fno-trapping-math"],
            optional=True,
        ),
    ]
    built = cythonize(modules, compiler_directives={"language_level": 3})
    for extension in built:
        extension.optional = True  # cythonize returns new Extension objects without it
    return built


setup(ext_modules=extensions())
