"""What an upload did: the report the CLI prints and the API returns, bad rows listed by line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from campaign.services.csv_files import REPORT_ROWS, RowProblem, SafeCsvWriter, list_some


@dataclass
class UploadReport:
    """What an upload did. `accepted` rows became pending contacts; `suppressed` ones were stored
    closed (do-not-call); duplicates and rejected rows were not stored. The first REPORT_ROWS
    rejected and duplicate rows are listed, the rest counted (`rejected_total`, `duplicates`).
    `note` says when the accepted ones are called if not in the campaign's current run
    (`reopened_run`: the run an upload to a completed campaign opened for them)."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected_total: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    duplicate_rows: list[RowProblem] = field(default_factory=list)
    suppressed_reasons: dict[str, int] = field(default_factory=dict)
    suppressed_rows: list[RowProblem] = field(default_factory=list)
    keep: int | None = field(default=REPORT_ROWS, repr=False)
    """Rows listed per list; None lists all (the CLI writing `--rejects-csv`)."""
    reopened_run: int | None = None
    note: str | None = None

    def reject(self, problems: list[RowProblem]) -> None:
        """Count rejected rows, listing them while there is room."""
        self.rejected_total += len(problems)
        list_some(self.rejected, problems, self.keep)

    def suppress(self, problem: RowProblem) -> None:
        """Count a row stored closed, by reason, listing it while there is room."""
        self.suppressed += 1
        reasons = self.suppressed_reasons
        reasons[problem.reason] = reasons.get(problem.reason, 0) + 1
        list_some(self.suppressed_rows, [problem], self.keep)

    def to_dict(self) -> dict[str, Any]:
        """The operator contract's upload JSON, plus `rows`, `duplicate_rows`, the suppressed rows
        and their count by reason, the counts of rows not listed, `reopened_run` and `note`."""
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "rejected": [p.to_dict() for p in self.rejected],
            "rejected_total": self.rejected_total,
            "rejected_omitted": self.rejected_total - len(self.rejected),
            "duplicate_rows": [p.to_dict() for p in self.duplicate_rows],
            "duplicate_rows_omitted": self.duplicates - len(self.duplicate_rows),
            "suppressed_reasons": dict(self.suppressed_reasons),
            "suppressed_rows": [p.to_dict() for p in self.suppressed_rows],
            "suppressed_rows_omitted": self.suppressed - len(self.suppressed_rows),
            "reopened_run": self.reopened_run,
            "note": self.note,
        }

    def write_rejects_csv(self, out: IO[str]) -> None:
        """The listed rejected rows as CSV (`line,value,reason`), for the operator to fix and
        resend; cells that a spreadsheet would run as formulas are neutralised."""
        writer = SafeCsvWriter(out)
        writer.writerow(("line", "value", "reason"))
        writer.writerows((p.line, p.value, p.reason) for p in self.rejected)
