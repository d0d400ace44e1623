"""Fakes of the external model APIs; everything else in the tests is real."""

from tests.fakes.model_server import FakeModelServer, RecordedRequest, RemoteFakeModelServer, Stats, Step

__all__ = ["FakeModelServer", "RemoteFakeModelServer", "Stats", "Step", "RecordedRequest"]
