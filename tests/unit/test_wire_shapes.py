"""The API's documented response models and the services' `to_dict` shapes they validate.

`Status` and `UploadReport` stay pydantic models because their wire shapes carry computed
fields (`total_contacts`, `*_omitted`) and typed sub-documents for OpenAPI; the services build
those shapes with `to_dict`, which the CLI's `--json` prints. A field added on one side only would
vanish from the API or fail every request, so the two key sets must stay equal.
"""

from __future__ import annotations

from campaign.api import schemas
from campaign.services.reporting import CampaignStatus
from campaign.services.upload_report import UploadReport


def test_upload_report_shape_is_the_api_model() -> None:
    assert set(UploadReport().to_dict()) == set(schemas.UploadReport.model_fields)


def test_status_shape_is_the_api_model() -> None:
    status = CampaignStatus(
        id=1,
        name="n",
        state="running",
        contacts={},
        outcomes={},
        attempts=0,
        live_calls=0,
        calls_per_second=0.0,
        waiting={},
        paused_reason=None,
        next_run_at=None,
        eta_seconds=None,
        runs=[],
    )
    assert set(status.to_dict()) == set(schemas.Status.model_fields)
