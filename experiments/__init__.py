"""Runnable experiments: ``python -m experiments.NAME --help``.

Each module holds a frozen config dataclass, a ``build(config)`` that wires library
pieces into a trainer, and ``main(argv=None)``. No training logic lives here.
"""
