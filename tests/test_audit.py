from __future__ import annotations

import codecs
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from m365_toolkit.errors import SessionsError, ValidationError
from m365_toolkit.m365.audit import (
    NoAuditResults,
    compliance_status,
    find_results,
    load_results,
    summarize,
)

SAMPLE = (
    Path(__file__).parent.parent / "src" / "m365_toolkit" / "samples" / "m365_cis_audit_sample.json"
)


def control(control_id: str, status: str, severity: str = "Medium", **extra: Any) -> dict[str, Any]:
    return {
        "ControlId": control_id,
        "Title": f"Control {control_id}",
        "Severity": severity,
        "Expected": "on",
        "Actual": "on" if status == "Pass" else "off",
        "Status": status,
        "Evidence": f"evidence for {control_id}",
        "Reference": f"CIS {control_id}",
        "Timestamp": "2026-11-25T10:15:00",
        **extra,
    }


def write_json(path: Path, data: Any, *, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def reports_dir(root: Path) -> Path:
    return root / "output" / "reports" / "security"


def test_load_results_reads_every_key_of_a_control(tmp_path):
    path = write_json(tmp_path / "r.json", [control("6.2.1", "Fail", "High")])

    [result] = load_results(path)

    assert result.control_id == "6.2.1"
    assert result.title == "Control 6.2.1"
    assert result.severity == "High"
    assert result.status == "Fail"
    assert (result.expected, result.actual) == ("on", "off")
    assert result.evidence == "evidence for 6.2.1"
    assert result.reference == "CIS 6.2.1"
    assert result.timestamp == datetime(2026, 11, 25, 10, 15)


def test_load_results_accepts_a_utf8_bom(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps([control("1.1.1", "Pass")]).encode())

    assert [r.control_id for r in load_results(path)] == ["1.1.1"]


def test_load_results_reads_utf16_as_windows_powershell_out_file_writes_it(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(json.dumps([control("1.1.1", "Pass")]).encode("utf-16"))

    assert [r.control_id for r in load_results(path)] == ["1.1.1"]


def test_load_results_accepts_a_single_object_instead_of_an_array(tmp_path):
    path = write_json(tmp_path / "r.json", control("1.1.1", "Pass"))

    assert [r.control_id for r in load_results(path)] == ["1.1.1"]


def test_load_results_tolerates_missing_keys_and_normalises_known_spellings(tmp_path):
    path = write_json(tmp_path / "r.json", [{"ControlId": "8.5.1", "Status": "fail"}])

    [result] = load_results(path)

    assert result.status == "Fail"
    assert result.severity == "Unknown"
    assert (result.title, result.reference, result.evidence, result.timestamp) == (
        "",
        "",
        None,
        None,
    )


def test_an_empty_results_file_holds_no_results(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("\n", encoding="utf-8")

    assert load_results(path) == []


def test_malformed_json_is_a_validation_error_naming_the_file(tmp_path):
    path = tmp_path / "m365_cis_audit.json"
    path.write_text('[{"ControlId": "1.1.1",', encoding="utf-8")

    with pytest.raises(ValidationError, match=r"m365_cis_audit\.json.*not valid JSON.*line 1"):
        load_results(path)


def test_a_non_object_element_is_a_validation_error_naming_the_file_and_element(tmp_path):
    path = write_json(tmp_path / "r.json", [control("1.1.1", "Pass"), "oops"])

    with pytest.raises(ValidationError, match=r"Element 1 of .*r\.json.* is a JSON string"):
        load_results(path)


def test_a_top_level_scalar_is_a_validation_error(tmp_path):
    path = write_json(tmp_path / "r.json", 42)

    with pytest.raises(ValidationError, match="holds a JSON number; expected an array"):
        load_results(path)


def test_an_object_that_is_not_a_control_result_is_rejected(tmp_path):
    path = write_json(tmp_path / "r.json", [{"name": "something else"}])

    with pytest.raises(ValidationError, match="neither a ControlId nor a Status"):
        load_results(path)


def test_a_missing_results_file_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError, match=r"nope\.json.*does not exist"):
        load_results(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-25 10:15:00", datetime(2026, 11, 25, 10, 15)),
        ("2026-11-25T10:15:00.1234567", datetime(2026, 11, 25, 10, 15, 0, 123456)),
        ("not a time", None),
        (12345, None),
    ],
)
def test_timestamps_are_read_as_naive_local_time_or_none(tmp_path, stamp, expected):
    path = write_json(tmp_path / "r.json", [control("1.1.1", "Pass", Timestamp=stamp)])

    assert load_results(path)[0].timestamp == expected


def test_windows_powershell_date_forms_are_read_as_local_time(tmp_path):
    ms = 1_764_065_700_000
    local = datetime.fromtimestamp(ms / 1000)
    path = write_json(
        tmp_path / "r.json",
        [
            control("1", "Pass", Timestamp=f"/Date({ms})/"),
            control("2", "Pass", Timestamp={"value": f"/Date({ms})/", "DisplayHint": 2}),
        ],
    )

    assert [r.timestamp for r in load_results(path)] == [local, local]


def test_summarize_counts_by_status_and_severity_and_computes_both_percentages(tmp_path):
    path = write_json(
        tmp_path / "r.json",
        [
            control("1", "Pass", "High"),
            control("2", "Pass", "Medium"),
            control("3", "Pass", "Low"),
            control("4", "Fail", "High"),
            control("5", "Fail", "Medium"),
            control("6", "Manual", "Low"),
            control("7", "Skipped", "Critical"),
        ],
    )

    summary = summarize(load_results(path), source=path)

    assert summary.source == path
    assert summary.total == 7
    assert summary.by_status == {"Pass": 3, "Fail": 2, "Manual": 1, "Error": 0, "Skipped": 1}
    assert summary.by_severity == {"High": 2, "Medium": 2, "Low": 2, "Critical": 1}
    assert summary.compliance_percent == 60.0  # 3 / (3 + 2): Manual and Skipped left out
    assert summary.pass_rate_percent == 60.0  # 3 / (3 + 2)
    assert summary.failed_count == 2


def test_summary_of_no_results_has_no_percentages():
    summary = summarize([])

    assert summary.total == 0
    assert summary.compliance_percent is None
    assert summary.pass_rate_percent is None
    assert summary.failed == ()


def test_pass_rate_is_none_when_only_manual_controls(tmp_path):
    path = write_json(tmp_path / "r.json", [control("1", "Manual")])

    summary = summarize(load_results(path))

    assert (summary.compliance_percent, summary.pass_rate_percent) == (None, None)


def test_failed_controls_include_errors_ordered_by_severity_then_control_id(tmp_path):
    path = write_json(
        tmp_path / "r.json",
        [
            control("1.1.10", "Fail", "High"),
            control("2.1", "Fail", "Low"),
            control("9.9", "Fail", "Critical"),
            control("1.1.2", "Fail", "High"),
            control("3.1.1", "Error", "Medium"),
            control("1.2", "Fail", "Medium"),
            control("0.1", "Pass", "High"),
            control("0.2", "Manual", "High"),
        ],
    )

    failed = summarize(load_results(path)).failed

    assert [(f.control_id, f.status) for f in failed] == [
        ("1.1.2", "Fail"),
        ("1.1.10", "Fail"),
        ("1.2", "Fail"),
        ("3.1.1", "Error"),
        ("2.1", "Fail"),
        ("9.9", "Fail"),
    ]


def test_long_evidence_is_cut_with_a_marker_saying_how_much_was_cut(tmp_path):
    path = write_json(tmp_path / "r.json", [control("1", "Fail", Evidence="x" * 50_000)])

    [failed] = summarize(load_results(path), evidence_limit=100).failed

    assert failed.evidence_chars_cut == 49_900
    assert failed.evidence.startswith("x" * 100)
    assert failed.evidence.endswith("… [49900 more characters cut]")
    assert not failed.evidence.startswith("x" * 101)


def test_evidence_that_is_not_text_is_dumped_as_json_before_cutting(tmp_path):
    evidence = [{"User": "adm@contoso.onmicrosoft.com", "Mfa": False}]
    path = write_json(tmp_path / "r.json", [control("1", "Fail", Evidence=evidence)])

    [whole] = summarize(load_results(path)).failed
    [cut] = summarize(load_results(path), evidence_limit=10).failed

    dumped = '[{"User": "adm@contoso.onmicrosoft.com", "Mfa": false}]'
    assert (whole.evidence, whole.evidence_chars_cut) == (dumped, 0)
    assert cut.evidence == dumped[:10] + f"… [{len(dumped) - 10} more characters cut]"


def test_missing_evidence_becomes_empty_text(tmp_path):
    path = write_json(tmp_path / "r.json", [{"ControlId": "1", "Status": "Fail"}])

    [failed] = summarize(load_results(path)).failed

    assert (failed.evidence, failed.evidence_chars_cut) == ("", 0)


@pytest.mark.parametrize("limit", [-1, 1.5, True, "10"])
def test_a_bad_evidence_limit_is_rejected(limit):
    with pytest.raises(ValidationError, match="evidence_limit must be a whole number"):
        summarize([], evidence_limit=limit)


def test_find_results_lists_matching_files_newest_first(tmp_path):
    write_json(tmp_path / "m365_cis_audit_20261101_090000.json", [], mtime=1_000)
    write_json(tmp_path / "m365_cis_audit.json", [], mtime=3_000)
    write_json(tmp_path / "m365_cis_audit_20261115_090000.json", [], mtime=2_000)
    write_json(tmp_path / "other_report.json", [], mtime=4_000)
    (tmp_path / "m365_cis_audit_notes.txt").write_text("x", encoding="utf-8")

    assert [p.name for p in find_results(tmp_path)] == [
        "m365_cis_audit.json",
        "m365_cis_audit_20261115_090000.json",
        "m365_cis_audit_20261101_090000.json",
    ]
    assert [p.name for p in find_results(tmp_path, since=2_000)] == [
        "m365_cis_audit.json",
        "m365_cis_audit_20261115_090000.json",
    ]


def test_find_results_in_a_missing_folder_finds_nothing(tmp_path):
    assert find_results(tmp_path / "absent") == []


def test_find_results_rejects_a_since_that_is_not_a_number(tmp_path):
    with pytest.raises(ValidationError, match="since must be a POSIX timestamp"):
        find_results(tmp_path, since="yesterday")  # type: ignore[arg-type]


def test_compliance_status_summarises_the_newest_file_with_its_trend(tmp_path):
    folder = reports_dir(tmp_path)
    write_json(
        folder / "m365_cis_audit_20261101_090000.json",
        [control("1", "Pass"), control("2", "Pass"), control("3", "Fail"), control("4", "Fail")],
        mtime=1_000,
    )
    newest = write_json(
        folder / "m365_cis_audit_20261125_101500.json",
        [
            control("1", "Pass", Timestamp="2026-11-25T10:15:00"),
            control("2", "Pass", Timestamp="2026-11-25T10:17:30"),
            control("3", "Pass", Timestamp="2026-11-25T10:16:00"),
            control("4", "Fail", Timestamp="2026-11-25T10:15:30"),
        ],
        mtime=2_000,
    )

    status = compliance_status(tmp_path)

    assert status.results_file == newest
    assert status.results_files == 2
    assert status.modified_at == datetime.fromtimestamp(2_000, tz=UTC)
    assert status.audited_at == datetime(2026, 11, 25, 10, 17, 30)
    assert status.summary.compliance_percent == 75.0
    assert status.trend is not None
    assert status.trend.previous_file.name == "m365_cis_audit_20261101_090000.json"
    assert status.trend.previous_compliance_percent == 50.0
    assert status.trend.compliance_change_points == 25.0
    assert status.trend.failed_change == -1


def test_compliance_status_of_a_single_file_has_no_trend_and_uses_the_file_name_stamp(tmp_path):
    write_json(reports_dir(tmp_path) / "m365_cis_audit_20261125_101500.json", [{"ControlId": "1"}])

    status = compliance_status(tmp_path)

    assert status.trend is None
    assert status.audited_at == datetime(2026, 11, 25, 10, 15)


def test_compliance_status_skips_an_unreadable_earlier_file_for_the_trend(tmp_path):
    folder = reports_dir(tmp_path)
    write_json(folder / "m365_cis_audit_1.json", [control("1", "Fail")], mtime=1_000)
    (folder / "m365_cis_audit_2.json").write_text("{broken", encoding="utf-8")
    os.utime(folder / "m365_cis_audit_2.json", (2_000, 2_000))
    write_json(folder / "m365_cis_audit_3.json", [control("1", "Pass")], mtime=3_000)

    status = compliance_status(tmp_path)

    assert status.trend is not None
    assert status.trend.previous_file.name == "m365_cis_audit_1.json"
    assert (status.trend.compliance_change_points, status.trend.failed_change) == (100.0, -1)


def test_compliance_status_without_results_says_where_it_looked_and_to_run_the_audit(tmp_path):
    with pytest.raises(NoAuditResults) as caught:
        compliance_status(tmp_path)

    assert isinstance(caught.value, ValidationError)
    assert isinstance(caught.value, SessionsError)
    assert caught.value.location == reports_dir(tmp_path)
    assert str(reports_dir(tmp_path)) in str(caught.value)
    assert "Run the CIS audit first" in str(caught.value)


def test_to_dict_is_json_ready(tmp_path):
    folder = reports_dir(tmp_path)
    write_json(folder / "m365_cis_audit_1.json", [control("1", "Fail")], mtime=1_000)
    evidence = {"Mailboxes": ["a@contoso.onmicrosoft.com"]}
    write_json(folder / "m365_cis_audit_2.json", [control("1", "Fail", Evidence=evidence)])

    data = json.loads(json.dumps(compliance_status(tmp_path).to_dict()))

    assert set(data) == {
        "results_file",
        "modified_at",
        "audited_at",
        "results_files",
        "summary",
        "trend",
    }
    assert (
        data["summary"]["failed"][0]["evidence"] == '{"Mailboxes": ["a@contoso.onmicrosoft.com"]}'
    )
    assert data["trend"]["compliance_change_points"] == 0.0
    assert data["trend"]["failed_change"] == 0
    [result] = load_results(folder / "m365_cis_audit_2.json")
    assert json.loads(json.dumps(result.to_dict()))["timestamp"] == "2026-11-25T10:15:00"


def test_the_sample_results_summarise_as_expected():
    results = load_results(SAMPLE)
    summary = summarize(results, source=SAMPLE, evidence_limit=300)

    assert summary.total == len(results) == 38
    assert summary.by_status == {"Pass": 26, "Fail": 8, "Manual": 3, "Error": 1}
    assert summary.compliance_percent == round(26 / 34 * 100, 2)
    assert summary.pass_rate_percent == round(26 / 34 * 100, 2)
    assert [f.severity for f in summary.failed] == ["High"] * 4 + ["Medium"] * 3 + ["Low"] * 2
    assert {f.status for f in summary.failed} == {"Fail", "Error"}
    assert max(len(f.evidence) for f in summary.failed) < 400
    assert any(f.evidence_chars_cut > 10_000 for f in summary.failed)
    assert all(r.timestamp is not None for r in results)
    json.dumps(summary.to_dict())
