"""FastAPI dependencies: settings, services and the authenticated, rate-limited caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import pseudonymize
from gateway.config import GatewaySettings
from gateway.protocol.base import ErrorResponse
from gateway.service.completions import Caller, CompletionService


class ApiError(Exception):
    """Raised by dependencies only; the app's handler turns it into the ErrorResponse JSON."""

    def __init__(self, err: ErrorResponse) -> None:
        self.err = err


def get_settings_dep(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_completion_service(request: Request) -> CompletionService:
    return request.app.state.completion_service  # type: ignore[no-any-return]


async def get_caller(request: Request) -> Caller:
    state = request.app.state
    machine = request.headers.get("x-machine-id")
    machine_id = pseudonymize(state.pseudonym_key, "machine:" + machine) if machine else None
    if not state.settings.require_auth:
        user = "anonymous"
        caller = Caller(None, user, pseudonymize(state.pseudonym_key, user), machine_id=machine_id)
    else:
        info = await state.authenticator.authenticate(request.headers.get("authorization"))
        if isinstance(info, ErrorResponse):
            raise ApiError(info)
        caller = Caller(
            info.key_id, info.user, pseudonymize(state.pseudonym_key, info.user), info.is_admin, machine_id=machine_id
        )
    decision = await state.rate_limiter.check(str(caller.key_id) if caller.key_id is not None else caller.user)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise ApiError(
            ErrorResponse(
                429,
                "rate_limited",
                "too many requests for this API key; retry later",
                headers={"Retry-After": str(decision.retry_after_s)},
            )
        )
    return caller


SettingsDep = Annotated[GatewaySettings, Depends(get_settings_dep)]
CompletionServiceDep = Annotated[CompletionService, Depends(get_completion_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]
