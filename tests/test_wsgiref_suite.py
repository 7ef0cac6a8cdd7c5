"""CPython's own wsgiref integration tests, run against simplewsgi's classes.

The strongest evidence that code and tests written for wsgiref.simple_server keep working.
Skipped where the interpreter ships without its test package.
"""

from __future__ import annotations

import unittest

import pytest

import simplewsgi
from tests.helpers import MemoryHandler, MemoryServer

wsgiref_tests = pytest.importorskip("test.test_wsgiref")

# wsgiref reports a malformed status as a bare AssertionError traceback; simplewsgi deliberately
# logs one plain-words line instead (issue #2), so this one test cannot pass by design.
DELIBERATELY_DIFFERENT = {"test_status_validation_errors"}


def test_cpython_wsgiref_integration_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgiref_tests, "WSGIServer", simplewsgi.WSGIServer)
    monkeypatch.setattr(wsgiref_tests, "WSGIRequestHandler", simplewsgi.WSGIRequestHandler)
    monkeypatch.setattr(wsgiref_tests, "make_server", simplewsgi.make_server)
    monkeypatch.setattr(wsgiref_tests, "MockServer", MemoryServer)
    monkeypatch.setattr(wsgiref_tests, "MockHandler", MemoryHandler)
    loader = unittest.defaultTestLoader
    names = [n for n in loader.getTestCaseNames(wsgiref_tests.IntegrationTests)]
    suite = unittest.TestSuite(
        wsgiref_tests.IntegrationTests(name) for name in names if name not in DELIBERATELY_DIFFERENT
    )
    result = unittest.TestResult()
    suite.run(result)
    problems = [f"{test}: {trace}" for test, trace in result.failures + result.errors]
    assert result.testsRun >= 8
    assert problems == []
