"""Schemathesis hooks of the contract run (``SCHEMATHESIS_HOOKS=tests.contract.hooks``, set by
``test_openapi_contract.py``): how a generated request is signed in.

- Operator endpoints (``/api/v1/admin/...``) get the operator's bearer token, every other one the
  funded demo fan's, with that fan's queue token of the run's concert in ``X-Queue-Token``, admitted
  (ACTIVE) before it is handed out.
- Tokens stop working during the run, as they do for a real client: a generated sign-out
  (``DELETE /api/v1/auth/token``) revokes the fan's bearer tokens, a payment finishes the queue
  token. ``after_call`` sees the 401 a request carrying the current token got, and forgets that
  token; the next request signs in afresh or joins the queue again (and waits to be admitted).
  A 401 to a token schemathesis made up or left out (a negative case) changes nothing.

Schemathesis' own re-login-and-replay on a 401 is off (``retry_on=[]``): it replays at once,
before ``after_call`` has said which token died, and then takes the operation's 401s for
"not about the token" for the rest of the run.

The accounts come from the environment the harness sets (``CONTRACT_*``); this module is only
ever imported by the schemathesis process it starts.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx
import schemathesis

BASE_URL = os.environ.get("CONTRACT_BASE_URL", "")
FAN = (os.environ.get("CONTRACT_FAN_NAME", ""), os.environ.get("CONTRACT_FAN_PASSWORD", ""))
OPERATOR = (os.environ.get("CONTRACT_OPERATOR_NAME", ""), os.environ.get("CONTRACT_OPERATOR_PASSWORD", ""))
CONCERT_ID = os.environ.get("CONTRACT_CONCERT_ID", "")
ADMISSION_WAIT_SECONDS = 30.0


class Tokens:
    """The tokens handed out now; ``None`` once one was refused (fetched again on next use)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fan: str | None = None
        self.operator: str | None = None
        self.queue: str | None = None

    def for_operator(self) -> dict[str, str]:
        with self.lock:
            if self.operator is None:
                self.operator = access_token(OPERATOR)
            return {"Authorization": f"Bearer {self.operator}"}

    def for_fan(self) -> dict[str, str]:
        with self.lock:
            if self.fan is None:
                self.fan = access_token(FAN)
            if self.queue is None:
                if self.operator is None:
                    self.operator = access_token(OPERATOR)
                self.queue = admitted_queue_token(self.fan, self.operator)
            return {"Authorization": f"Bearer {self.fan}", "X-Queue-Token": self.queue}

    def refused(self, sent: Any, code: str | None) -> None:
        """A 401 answered a request that sent ``sent`` headers: forget the token it was about, if
        it is the one handed out now."""
        with self.lock:
            bearer = sent.get("Authorization")
            if code == "UNAUTHENTICATED":
                if self.fan is not None and bearer == f"Bearer {self.fan}":
                    self.fan = None
                if self.operator is not None and bearer == f"Bearer {self.operator}":
                    self.operator = None
            elif code == "TOKEN_INVALID" and self.queue is not None and sent.get("X-Queue-Token") == self.queue:
                self.queue = None


TOKENS = Tokens()


def access_token(account: tuple[str, str]) -> str:
    name, password = account
    response = httpx.post(f"{BASE_URL}/api/v1/auth/token", json={"name": name, "password": password}, timeout=30)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def admitted_queue_token(access: str, operator: str) -> str:
    """The fan's live queue token of the run's concert (a new one if the last finished), once the
    admitter has let it in. Generated operator requests may have paused or closed the run's
    sale (its id is in the path dictionary); a paused queue admits nobody, so the sale is
    resumed first, as an operator would (a closed date's holds then answer 409, as documented)."""
    bearer = {"Authorization": f"Bearer {access}"}
    with httpx.Client(base_url=BASE_URL, timeout=10) as client:
        client.post(f"/api/v1/admin/concerts/{CONCERT_ID}/sale/resume", headers={"Authorization": f"Bearer {operator}"})
        joined = client.post(f"/api/v1/concerts/{CONCERT_ID}/queue/tokens", headers=bearer)
        joined.raise_for_status()
        token: str = joined.json()["token"]
        status: str = joined.json()["status"]
        deadline = time.monotonic() + ADMISSION_WAIT_SECONDS
        while status != "ACTIVE":
            if status != "WAITING":
                raise RuntimeError(f"the contract fan's queue token is {status}, not admitted")
            if time.monotonic() > deadline:
                # A generated close ended the run's dates: the queue admits nobody while no seat
                # is for sale. The waiting token still gets the documented answers (403).
                return token
            time.sleep(0.1)
            info = client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": token})
            info.raise_for_status()
            status = info.json()["status"]
    return token


def _is_operator_path(path: str) -> bool:
    return path.startswith("/api/v1/admin/")


@schemathesis.auth(refresh_interval=None, retry_on=[])
class ContractAuth:
    """Asked before every request (no caching here: ``Tokens`` keeps them until refused)."""

    def get(self, case: Any, context: schemathesis.AuthContext) -> dict[str, str]:
        return TOKENS.for_operator() if _is_operator_path(context.operation.path) else TOKENS.for_fan()

    def set(self, case: Any, data: dict[str, str], context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), **data}


@schemathesis.hook
def after_call(context: schemathesis.HookContext, case: Any, response: Any) -> None:
    if response.status_code != 401:
        return
    try:
        code = response.json().get("code")
    except ValueError:
        return
    TOKENS.refused(response.request.headers, code)


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Any, **kwargs: Any) -> None:
    """A generated pause or close of the run's own concert would end its sale for the rest of the
    run (no hold, no payment to follow); those two are sent to the demo concert (id 1) instead."""
    path: str = case.operation.path
    if (
        path.endswith(("/sale/close", "/sale/pause"))
        and str((case.path_parameters or {}).get("concert_id")) == CONCERT_ID
    ):
        case.path_parameters = {**case.path_parameters, "concert_id": 1}
