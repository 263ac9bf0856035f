"""The demo report, checked number by number against PostgreSQL with queries of the test's own."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import timedelta

import psycopg

from campaign.demo.report import DemoReport

ONE_S = timedelta(seconds=1)


def assert_report_matches_database(report: DemoReport, database_url: str) -> None:
    cid = report.campaign_id
    with psycopg.connect(database_url) as conn:

        def rows(sql: str) -> list[tuple[object, ...]]:
            return conn.execute(sql, {"c": cid}).fetchall()

        contacts = dict(
            rows("SELECT state, count(*) FROM contacts WHERE campaign_id = %(c)s GROUP BY 1")
        )
        assert report.contacts == contacts
        dialled = rows(
            "SELECT contact_id, outcome FROM attempts "
            "WHERE campaign_id = %(c)s AND state <> 'released' ORDER BY contact_id, id"
        )
        assert report.attempts == len(dialled)
        outcomes = Counter(str(o) for _, o in dialled if o is not None)
        assert report.outcomes == dict(outcomes)

        per_contact: dict[object, list[object]] = defaultdict(list)
        for contact_id, outcome in dialled:
            per_contact[contact_id].append(outcome)
        histogram = Counter(len(v) for v in per_contact.values())
        never = sum(contacts.values()) - len(per_contact)
        if never:
            histogram[0] = never
        assert report.attempts_per_contact == dict(histogram)
        retries = Counter(
            str(previous or "no outcome")
            for outcomes_of_one in per_contact.values()
            for previous in outcomes_of_one[:-1]
        )
        assert report.retries == dict(retries)

        sends = [
            t
            for (t,) in rows(
                "SELECT sending_at FROM attempts "
                "WHERE campaign_id = %(c)s AND sending_at IS NOT NULL ORDER BY sending_at"
            )
        ]
        assert report.dial.dials == len(sends)
        assert report.dial.peak_1s == max(
            sum(1 for u in sends if t <= u < t + ONE_S) for t in sends
        )
        spans = rows(
            "SELECT sending_at, ended_at FROM attempts WHERE campaign_id = %(c)s "
            "AND sending_at IS NOT NULL"
        )
        assert all(end is not None for _, end in spans), "the demo settled with a call still live"
        live = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)  # type: ignore[operator]
        assert report.dial.peak_live == live

        (all_attempts,) = rows("SELECT count(*) FROM attempts WHERE campaign_id = %(c)s")[0]
        assert report.export_rows == all_attempts
        with report.export_path.open(newline="") as fh:
            assert sum(1 for _ in csv.DictReader(fh)) == all_attempts

        upload = report.upload
        assert upload["accepted"] + upload["suppressed"] == sum(contacts.values())
        assert contacts.get("suppressed", 0) >= upload["suppressed"]
