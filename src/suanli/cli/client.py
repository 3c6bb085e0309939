"""How the CLI talks to suanli: always through the HTTP API, so the CLI and the API cannot drift apart.

By default the API runs in-process against the local database (``SUANLI_DATABASE_URL``); with
``--api-url`` (or ``SUANLI_API_URL``) the CLI talks to a running server. ``SUANLI_TOKEN`` (a login
token or an API key) authenticates it; without it, the token ``suanli login`` stored in
``$SUANLI_HOME/credentials.json`` (mode 600) does.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def credentials_path() -> Path:
    from suanli.config import load_settings

    return load_settings().home / "credentials.json"


def stored_credentials() -> dict[str, Any] | None:
    """What ``suanli login`` stored, or None."""
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("token") else None


def store_credentials(data: dict[str, Any]) -> Path:
    """Write the credentials file readable by its owner only (0600), never group- or world-readable."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    return path


class ApiClient:
    def __init__(self, api_url: str | None = None, token: str | None = None, *, anonymous: bool = False) -> None:
        """``anonymous``: send no token at all (e.g. to log in)."""
        stored = None if anonymous else stored_credentials()
        api_url = api_url or os.environ.get("SUANLI_API_URL") or (stored or {}).get("api_url")
        token = None if anonymous else (token or os.environ.get("SUANLI_TOKEN") or (stored or {}).get("token"))
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
        self.last_response = response
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:500]}
            raise ApiError(response.status_code, error.get("code", "http_error"), error.get("message", ""),
                           error.get("details") or {})
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", "json"):
            return response.content
        return response.json()

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
