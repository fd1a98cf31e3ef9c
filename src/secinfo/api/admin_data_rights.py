"""The operator's side of data rights: ``GET /v1/admin/accounts/{id}/export`` and
``DELETE /v1/admin/accounts/{id}`` (immediate erasure), with admin-scoped API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from secinfo.api.data_rights import ExportOut
from secinfo.api.dependencies import AdminKeyDep, DepsDep
from secinfo.http import export_response
from secinfo.services import data_rights

# Descriptions only: the one error schema is added by ``api.openapi``.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid API key (invalid_api_key)."},
    403: {"description": "A key without the admin scope (forbidden_scope)."},
    404: {"description": "No account with that id (not_found)."},
}

router = APIRouter(prefix="/v1/admin/accounts", tags=["admin: data rights"], responses=ERRORS)


class ErasureOut(BaseModel):
    account_id: str
    status: str = Field("erased", examples=["erased"])
    erased: bool = Field(
        ..., description="False when the account had been erased already: nothing changed."
    )
    erased_at: datetime | None
    rows: dict[str, int] = Field(
        default_factory=dict, description="Rows erased, deleted or anonymised per table."
    )


@router.get(
    "/{account_id}/export",
    response_model=ExportOut,
    responses={200: {"description": "A JSON file (attachment)."}},
)
async def export_account(account_id: str, key: AdminKeyDep, deps: DepsDep) -> JSONResponse:
    """Everything held about one account, the document its holder downloads (for a
    data-protection request). Recorded in the account's activity with the key's name."""
    document = await data_rights.export_account(
        deps, account_id, by="admin_api", api_key_name=key.name
    )
    return export_response(document)


@router.delete("/{account_id}")
async def erase_account(account_id: str, key: AdminKeyDep, deps: DepsDep) -> ErasureOut:
    """Erase the account's personal data now, without a grace period (GDPR art. 17).
    Idempotent: a second call answers ``erased: false`` and changes nothing."""
    result = await data_rights.erase_account(
        deps, account_id, by="admin_api", api_key_name=key.name
    )
    return ErasureOut(
        account_id=account_id,
        erased=result.erased,
        erased_at=result.erased_at,
        rows=result.rows,
    )
