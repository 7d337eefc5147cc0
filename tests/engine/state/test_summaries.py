"""summaries: junit.xml stays well-formed XML whatever a node's error quotes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.state.report import NodeReport, RunReport
from engine.state.summaries import junit_xml


@pytest.mark.parametrize("status", ["failed", "skipped"])
def test_an_error_with_control_characters_keeps_junit_xml_readable(status: str) -> None:
    report = RunReport("r1", "/tmp/r1", "2026-01-01T00:00:00+00:00")
    report.nodes["a"] = NodeReport("a", "localhost:5000/t/a:1", "build", "not_in_registry", status=status,
                                   error="HTTP 500: \x1b[2Jboom\x00 <&> \U0001f600\ttab")
    suite = ET.fromstring(junit_xml(report).encode("utf-8"))  # before: ParseError (invalid token)
    case = suite.find("testcase")
    assert case is not None
    element = case.find("failure" if status == "failed" else "skipped")
    assert element is not None
    assert element.get("message") == "HTTP 500: \ufffd[2Jboom\ufffd <&> \U0001f600\ttab"

