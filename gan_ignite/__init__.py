"""gan_ignite: Chainer-style trainer, updaters and extensions for GANs on PyTorch Ignite.

Importing the package has no side effects: submodules (``losses``, ``updaters``,
``trainer``, ``extensions``, ``models``, ``data``) are imported by name when used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
