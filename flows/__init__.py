"""Wiring: the discovery flow and the ``symdistill`` command line."""
