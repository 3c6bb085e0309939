"""How the CLI talks to suanli: always through the HTTP API, so the CLI and the API cannot drift apart.

By default the API runs in-process against the local database (``SUANLI_DATABASE_URL``); with
``--api-url`` (or ``SUANLI_API_URL``) the CLI talks to a running server. ``SUANLI_TOKEN`` (a login
token or an API key) authenticates it.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class ApiClient:
    def __init__(self, api_url: str | None = None, token: str | None = None) -> None:
        api_url = api_url or os.environ.get("SUANLI_API_URL")
        token = token or os.environ.get("SUANLI_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if api_url:
            self._http: httpx.Client = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=30)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from fastapi.testclient import TestClient

            from suanli.app import create_app

            self._http = TestClient(create_app(), headers=headers)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"Cannot reach the suanli API ({exc}). Is the server running? "
                           "Check --api-url / SUANLI_API_URL.", {}) from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:500]}
            raise ApiError(response.status_code, error.get("code", "http_error"), error.get("message", ""),
                           error.get("details") or {})
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
