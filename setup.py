"""Build hook: the optional recvmmsg/sendmmsg extension (dnsd/serve/_mmsg.c) on Linux.

Everything else is in pyproject.toml. `optional=True`: when the compiler or the Python headers
are missing, the install goes on without it and dnsd uses one datagram per system call.
"""

import sys

from setuptools import Extension, setup

extensions = []
if sys.platform.startswith("linux"):
    extensions.append(
        Extension(
            "dnsd.serve._mmsg",
            sources=["dnsd/serve/_mmsg.c", "dnsd/serve/_serve.c", "dnsd/serve/_hits.c"],
            depends=["dnsd/serve/_mmsg.h", "dnsd/serve/_hits.h"],
            optional=True,
        )
    )

setup(ext_modules=extensions)
