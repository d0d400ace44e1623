"""Fakes of the external model APIs (only those: everything else in the tests is real).

Import from the module: ``from tests.fakes.model_server import FakeModelServer``. This package
imports nothing itself, so ``python -m tests.fakes.model_server`` runs cleanly.
"""
