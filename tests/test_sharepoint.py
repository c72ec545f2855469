from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path

import openpyxl
import pytest

from m365_toolkit.errors import ConfigError, ValidationError
from m365_toolkit.m365.sharepoint import (
    COLUMNS,
    analyze_permissions,
    read_permissions,
)
from m365_toolkit.m365.sharepoint.workbook import write_workbook

SAMPLE = (
    Path(__file__).parent.parent
    / "src"
    / "m365_toolkit"
    / "samples"
    / "sharepoint_permissions_sample.csv"
)
HEADER = ",".join(COLUMNS)

# Ten rows whose counts are worked out by hand in the tests below.
SMALL = f"""{HEADER}
/sites/A,Site,Full Control,A Owners,,SharePointGroup,,,
/sites/A,Site,Read,Everyone,,SecurityGroup,,,
/sites/A/Docs,List,Edit,Ann Lee,ann@contoso.onmicrosoft.com,User,,,
/sites/A/Docs/x.docx,File,Read,Bob Guest,bob_fabrikam.com#ext#@contoso.onmicrosoft.com,User,,,
/sites/A/Docs/x.docx,File,Edit,Ann Lee,ann@contoso.onmicrosoft.com,User,,,
/sites/A/Docs/x.docx,File,Read,SharingLinks.1.AnonymousView.L1,,SharingLink,L1,AnonymousAccess,
/sites/A/Docs/y.docx,File,Read,SharingLinks.2.OrganizationView.L2,,SharingLink,L2,Organization,
/sites/A/Docs/y.docx,File,Read,Cy Dee,cy@contoso.onmicrosoft.com,User,,,L2
/sites/B,Site,Full Control,Dan Admin,dan@contoso.onmicrosoft.com,User,,,
/sites/B,Site,Contribute,Eve Partner,eve@fabrikam.com,Guest,,,
"""


def write_csv(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "permissions.csv"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_analysis_counts_rows_item_types_and_permission_levels(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL))

    assert analysis.row_count == 10
    assert analysis.by_item_type == {"File": 5, "Site": 4, "List": 1}
    assert analysis.by_permission == {"Read": 5, "Edit": 2, "Full Control": 2, "Contribute": 1}


def test_top_users_count_by_email_falling_back_to_name(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL), top=3)

    assert [(u.name, u.count) for u in analysis.top_users] == [
        ("ann@contoso.onmicrosoft.com", 2),
        ("A Owners", 1),
        ("bob_fabrikam.com#ext#@contoso.onmicrosoft.com", 1),
    ]


def test_top_resources_are_ranked_by_entries_then_name(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL), top=4)

    assert [(r.name, r.count) for r in analysis.top_resources] == [
        ("/sites/A/Docs/x.docx", 3),
        ("/sites/A", 2),
        ("/sites/A/Docs/y.docx", 2),
        ("/sites/B", 2),
    ]


def test_findings_cover_each_risk_most_severe_first(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL))

    found = {f.key: f for f in analysis.findings}
    assert [(f.key, f.severity, f.count) for f in analysis.findings] == [
        ("anonymous_links", "High", 1),
        ("external_users", "High", 2),  # a guest holds Contribute
        ("broad_groups", "Medium", 1),  # Everyone can only read
        ("full_control_non_owners", "Medium", 1),
        ("organization_links", "Low", 1),
    ]
    assert found["anonymous_links"].examples == (
        "AnonymousAccess link (Read) on /sites/A/Docs/x.docx",
    )
    assert found["external_users"].examples == (
        "bob_fabrikam.com#ext#@contoso.onmicrosoft.com: Read on /sites/A/Docs/x.docx",
        "eve@fabrikam.com: Contribute on /sites/B",
    )
    assert found["external_users"].title.startswith("2 external or guest user(s)")
    assert found["broad_groups"].examples == ("Everyone: Read on /sites/A",)
    assert found["full_control_non_owners"].examples == (
        "dan@contoso.onmicrosoft.com: Full Control on /sites/B",
    )


def test_links_are_counted_once_per_link_id_by_type(tmp_path):
    path = write_csv(
        tmp_path,
        csv_of(
            "/a,File,Read,SharingLinks.a,,SharingLink,L1,Anonymous,",
            "/a,File,Read,Ann,ann@contoso.onmicrosoft.com,User,L1,Anonymous,L1",
            "/b,File,Edit,SharingLinks.b,,SharingLink,L2,AnyoneWithLink,",
            "/c,File,Read,SharingLinks.c,,SharingLink,L3,Specific people,",
            "/d,File,Read,SharingLinks.d,,SharingLink,L4,Specific people,",
            "/e,File,Read,SharingLinks.e,,SharingLink,,Organization,",
            "/f,File,Read,SharingLinks.f,,SharingLink,,Organization,",
        ),
    )

    analysis = analyze_permissions(path)

    assert analysis.links_by_type == {
        "Organization": 2,
        "Specific people": 2,
        "Anonymous": 1,
        "AnyoneWithLink": 1,
    }
    found = {f.key: f for f in analysis.findings}
    assert (found["anonymous_links"].severity, found["anonymous_links"].count) == ("High", 2)
    assert found["organization_links"].count == 2
    assert set(found) == {"anonymous_links", "organization_links"}


@pytest.mark.parametrize(
    "name",
    [
        "Everyone",
        "everyone",
        "ALL USERS",
        "All Users (membership)",
        "Everyone except external users",
        " everyone except external users (windows) ",
    ],
)
def test_broad_groups_are_matched_case_insensitively_with_common_variants(tmp_path, name):
    path = write_csv(tmp_path, csv_of(f"/a,Site,Edit,{name},,SecurityGroup,,,"))

    [finding] = analyze_permissions(path).findings

    assert (finding.key, finding.severity) == ("broad_groups", "High")  # Edit is a write level


def test_broad_groups_are_matched_by_claims_login_and_are_not_external_users(tmp_path):
    claims = "c:0-.f|rolemanager|spo-grid-all-users/1234"
    path = write_csv(
        tmp_path, csv_of(f"/a,Site,Read,Everyone except external users,{claims},SecurityGroup,,,")
    )

    [finding] = analyze_permissions(path).findings

    assert finding.key == "broad_groups"
    assert finding.examples == ("Everyone except external users: Read on /a",)


def test_names_that_merely_contain_everyone_are_not_broad_groups(tmp_path):
    path = write_csv(tmp_path, csv_of("/a,Site,Read,Everyone in Finance,,SharePointGroup,,,"))

    assert analyze_permissions(path).findings == ()


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("ann_fabrikam.com#EXT#@contoso.onmicrosoft.com", "User"),
        ("ann@fabrikam.com", "Guest"),
        ("ann@fabrikam.com", "External User"),
    ],
)
def test_external_users_are_found_by_type_or_ext_marker(tmp_path, email, kind):
    path = write_csv(tmp_path, csv_of(f"/a,File,Read,Ann,{email},{kind},,,"))

    [finding] = analyze_permissions(path).findings

    assert (finding.key, finding.severity, finding.count) == ("external_users", "Medium", 1)


def test_full_control_held_by_an_owners_group_is_not_a_finding(tmp_path):
    path = write_csv(
        tmp_path,
        csv_of(
            "/a,Site,Full Control,Contoso Owners,,SharePointGroup,,,",
            "/a,Site,Full Control,HR site owners,,SharePointGroup,,,",
            "/a,Site,Full Control,Ann,ann@contoso.onmicrosoft.com,User,,,",
        ),
    )

    [finding] = analyze_permissions(path).findings

    assert (finding.key, finding.count, finding.severity) == (
        "full_control_non_owners",
        1,
        "Medium",
    )


def test_full_control_held_by_a_guest_is_high_severity(tmp_path):
    path = write_csv(tmp_path, csv_of("/a,Site,Full Control,Ann,ann@fabrikam.com,Guest,,,"))

    found = {f.key: f.severity for f in analyze_permissions(path).findings}

    assert found == {"external_users": "High", "full_control_non_owners": "High"}


def test_examples_are_limited_but_counts_are_not(tmp_path):
    rows = [f"/f{i},File,Read,G{i},g{i}#ext#@contoso.onmicrosoft.com,User,,," for i in range(8)]
    path = write_csv(tmp_path, csv_of(*rows))

    [finding] = analyze_permissions(path, examples=3).findings

    assert finding.count == 8
    assert len(finding.examples) == 3


def test_an_export_without_risks_has_no_findings(tmp_path):
    path = write_csv(tmp_path, csv_of("/a,Site,Read,Site Visitors,,SharePointGroup,,,"))

    assert analyze_permissions(path).findings == ()


def test_bom_comments_blank_lines_repeated_headers_and_whitespace_are_tolerated(tmp_path):
    text = (
        "#TYPE System.Management.Automation.PSCustomObject\r\n"
        "\r\n"
        f'"Resource Path", "Item Type" ,{",".join(COLUMNS[2:])}\r\n'
        '"/a","Site","Read","Ann","ann@contoso.onmicrosoft.com","User","","",""\r\n'
        "   \r\n"
        "# second batch\r\n"
        f"{HEADER}\r\n"
        " /b , File ,  Edit , Bob ,bob@contoso.onmicrosoft.com,User,,,\r\n"
        ",,,,,,,,\r\n"
    )
    path = write_csv(tmp_path, text, bom=True)

    entries = read_permissions(path)

    assert [(e.resource_path, e.item_type, e.permission, e.user_name) for e in entries] == [
        ("/a", "Site", "Read", "Ann"),
        ("/b", "File", "Edit", "Bob"),
    ]
    assert [e.line for e in entries] == [4, 8]


def test_a_hash_inside_a_quoted_multiline_value_is_data_not_a_comment(tmp_path):
    path = write_csv(tmp_path, csv_of('"/a/odd\n# name.docx",File,Read,Ann,,User,,,'))

    [entry] = read_permissions(path)

    assert entry.resource_path == "/a/odd\n# name.docx"
    assert entry.line == 2


def test_columns_are_matched_by_name_in_any_order_and_link_columns_are_optional(tmp_path):
    text = (
        "user email,User Name,Permission,Item Type,Resource Path,User Or Group Type\n"
        "ann@contoso.onmicrosoft.com,Ann,Read,File,/a,User\n"
    )

    [entry] = read_permissions(write_csv(tmp_path, text))

    assert (entry.resource_path, entry.user_email, entry.link_type) == (
        "/a",
        "ann@contoso.onmicrosoft.com",
        "",
    )


def test_missing_required_columns_are_named_in_the_error(tmp_path):
    path = write_csv(tmp_path, "Resource Path,Permission,User Name\n/a,Read,Ann\n")

    with pytest.raises(ValidationError) as caught:
        analyze_permissions(path)

    message = str(caught.value)
    assert "permissions.csv" in message
    assert "lacks the required column(s) Item Type, User Email, User Or Group Type" in message
    assert "'Resource Path', 'Permission', 'User Name'" in message


def test_an_empty_export_is_an_error_asking_for_the_header(tmp_path):
    path = write_csv(tmp_path, "# nothing but a comment\n\n")

    with pytest.raises(ValidationError, match="has no header row"):
        analyze_permissions(path)


def test_a_row_with_extra_fields_is_an_error_naming_its_line(tmp_path):
    path = write_csv(tmp_path, "# comment\n" + csv_of("/a,Site,Read,Smith, Ann,ann@x,User,,,"))

    with pytest.raises(ValidationError, match="Line 3 of .* has 10 fields but the header has 9"):
        analyze_permissions(path)


def test_short_rows_are_padded_with_empty_values(tmp_path):
    path = write_csv(tmp_path, csv_of("/a,Site,Read,Ann,,User"))

    [entry] = read_permissions(path)

    assert (entry.resource_path, entry.principal_type, entry.access_via_link_id) == (
        "/a",
        "User",
        "",
    )


@pytest.mark.parametrize("option", [{"top": -1}, {"examples": 1.5}, {"top": True}])
def test_bad_limits_are_rejected(tmp_path, option):
    with pytest.raises(ValidationError, match="must be a whole number of 0 or more"):
        analyze_permissions(write_csv(tmp_path, SMALL), **option)


def test_to_dict_is_json_ready_and_leaves_out_rows_unless_asked(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL), top=1, examples=1)

    data = json.loads(json.dumps(analysis.to_dict()))
    full = json.loads(json.dumps(analysis.to_dict(include_entries=True)))

    assert set(data) == {
        "source",
        "row_count",
        "by_item_type",
        "by_permission",
        "top_users",
        "top_resources",
        "links_by_type",
        "findings",
    }
    assert data["top_users"] == [{"name": "ann@contoso.onmicrosoft.com", "count": 2}]
    assert data["findings"][0] == {
        "key": "anonymous_links",
        "severity": "High",
        "title": "1 anyone (anonymous) sharing link(s) open content to anyone who has the link",
        "count": 1,
        "examples": ["AnonymousAccess link (Read) on /sites/A/Docs/x.docx"],
        "recommendation": analysis.findings[0].recommendation,
    }
    assert len(full["entries"]) == 10
    assert full["entries"][0]["line"] == 2


def test_the_sample_export_shows_every_kind_of_risk():
    analysis = analyze_permissions(SAMPLE)

    assert 150 <= analysis.row_count <= 300
    assert {f.key for f in analysis.findings} == {
        "anonymous_links",
        "external_users",
        "broad_groups",
        "full_control_non_owners",
        "organization_links",
    }
    assert analysis.links_by_type["Anonymous"] == 2
    assert analysis.links_by_type["Organization"] == 3
    assert all(
        e.resource_path.startswith("https://contoso.sharepoint.com/") for e in analysis.entries
    )
    assert all(e.resource_path == e.resource_path.strip() for e in analysis.entries)
    assert "Resource Path" not in {e.resource_path for e in analysis.entries}
    full_control = next(f for f in analysis.findings if f.key == "full_control_non_owners")
    assert any("megan.bowen@contoso.onmicrosoft.com" in e for e in full_control.examples)


def test_write_workbook_writes_summary_findings_and_permissions_sheets(tmp_path):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL))

    path = write_workbook(analysis, tmp_path / "out" / "permissions.xlsx")

    assert path == tmp_path / "out" / "permissions.xlsx"
    assert not list(path.parent.glob(".*.tmp"))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Findings", "Permissions"]
    summary = [row for row in book["Summary"].iter_rows(values_only=True)]
    assert ("Permission entries", 10) in summary
    assert ("High severity findings", 2) in summary
    assert ("AnonymousAccess", 1) in summary
    findings = list(book["Findings"].iter_rows(values_only=True))
    assert findings[0] == ("Severity", "Finding", "Count", "Examples", "Recommendation")
    assert [(row[0], row[2]) for row in findings[1:]] == [
        ("High", 1),
        ("High", 2),
        ("Medium", 1),
        ("Medium", 1),
        ("Low", 1),
    ]
    assert findings[2][3].split("\n")[1] == "eve@fabrikam.com: Contribute on /sites/B"
    rows = list(book["Permissions"].iter_rows(values_only=True))
    assert rows[0] == COLUMNS
    assert len(rows) == 11
    assert rows[3][:6] == (
        "/sites/A/Docs",
        "List",
        "Edit",
        "Ann Lee",
        "ann@contoso.onmicrosoft.com",
        "User",
    )
    assert book["Permissions"].auto_filter.ref == "A1:I11"


def test_write_workbook_keeps_formula_like_text_as_text(tmp_path):
    path = write_csv(tmp_path, csv_of('/a,Site,Read,"=HYPERLINK(""http://x"")",,User,,,'))

    out = write_workbook(analyze_permissions(path), tmp_path / "p.xlsx")

    cell = openpyxl.load_workbook(out)["Permissions"]["D2"]
    assert cell.value == '=HYPERLINK("http://x")'
    assert cell.data_type == "s"


def test_write_workbook_writes_the_sample(tmp_path):
    out = write_workbook(analyze_permissions(SAMPLE), tmp_path / "sample.xlsx")

    book = openpyxl.load_workbook(out, read_only=True)
    assert book["Permissions"].max_row == analyze_permissions(SAMPLE).row_count + 1
    book.close()


def test_write_workbook_without_openpyxl_says_how_to_install_it(tmp_path, monkeypatch):
    analysis = analyze_permissions(write_csv(tmp_path, SMALL))
    monkeypatch.setitem(sys.modules, "openpyxl", None)

    with pytest.raises(ConfigError, match=r"pip install 'm365-security-toolkit\[mcp\]'"):
        write_workbook(analysis, tmp_path / "p.xlsx")
    assert not (tmp_path / "p.xlsx").exists()
