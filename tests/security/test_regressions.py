"""Bugs the security tests found, each pinned by the request that showed it."""

from __future__ import annotations

import pytest

from tests.support.app import Api


@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "9999-12-31T23:00:00-05:00"},
        {"endDate": "0001-01-01T00:00:00+05:00"},
        {"startDate": "0001-01-01T00:00:00+05:00", "endDate": "9999-12-31T23:00:00-05:00"},
    ],
)
def test_audit_date_beyond_the_calendar_in_utc_is_no_500(api: Api, params: dict[str, str]) -> None:
    # Found by the API fuzz: converting such a date to UTC overflowed (OverflowError → 500).
    response = api.client.get("/api/v1/audit-logs", params=params, headers=api.admin)
    assert response.status_code == 200, response.text


def test_audit_dates_beyond_the_calendar_filter_like_its_ends(api: Api) -> None:
    everything = {"startDate": "0001-01-01T00:00:00+05:00", "endDate": "9999-12-31T23:00:00-05:00"}
    listed = api.client.get("/api/v1/audit-logs", params=everything, headers=api.admin).json()
    assert listed["auditLogs"], "the bootstrap login is an event in range"
    after_all = {"startDate": "9999-12-31T23:00:00-05:00"}
    assert api.client.get("/api/v1/audit-logs", params=after_all, headers=api.admin).json() == {
        "auditLogs": []
    }
