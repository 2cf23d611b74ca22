"""The federation administrator's side of the SDK: federations, invites, rounds, results."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from blindsum.client_sdk.transport import Transport
from blindsum.errors import ConfigError
from blindsum.wire import FederationCreate, ParameterSpec
from blindsum.wire.base import describe

__all__ = ["Admin"]


class Admin:
    """Everything the admin token allows, as methods. ``Admin(url, token)``."""

    def __init__(self, base_url: str, token: str, **transport_options: Any) -> None:
        self.transport = Transport(base_url, token, **transport_options)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_federation(self, name: str, mode: str, parameters: list[tuple[str, tuple[int, ...]]],
                          **settings: Any) -> dict[str, Any]:
        """``parameters`` are (name, shape) in the order clients flatten their update;
        ``settings`` are :class:`~blindsum.wire.FederationCreate`'s other fields, checked
        here before anything is sent."""
        try:
            body = FederationCreate(name=name, mode=mode, parameters=[  # type: ignore[arg-type]
                ParameterSpec(name=n, shape=list(s)) for n, s in parameters], **settings)
        except ValidationError as exc:
            raise ConfigError(f"invalid federation settings ({describe(exc)})") from None
        return dict(self.transport.post("/v1/federations", json=body.model_dump(
            mode="json", exclude_unset=True)).json())

    def federation(self, federation_id: str) -> dict[str, Any]:
        return dict(self.transport.get(f"/v1/federations/{federation_id}").json())

    def invite(self, federation_id: str, label: str = "") -> str:
        """A one-time invite code to hand to one organisation, out of band."""
        response = self.transport.post(f"/v1/federations/{federation_id}/invites",
                                       json={"label": label})
        return str(response.json()["code"])

    def clients(self, federation_id: str) -> list[dict[str, Any]]:
        return list(self.transport.get(f"/v1/federations/{federation_id}/clients").json())

    def open_round(self, federation_id: str) -> dict[str, Any]:
        return dict(self.transport.post(f"/v1/federations/{federation_id}/rounds").json())

    def round(self, federation_id: str, round_id: str, *, after: str | None = None,
              wait: float = 0.0) -> dict[str, Any]:
        params: dict[str, Any] = {"wait": wait} | ({"after": after} if after else {})
        return dict(self.transport.get(f"/v1/federations/{federation_id}/rounds/{round_id}",
                                       params=params, timeout=wait + 30).json())

    def close_stage(self, federation_id: str, round_id: str) -> dict[str, Any]:
        """End the round's current stage now (as its deadline would)."""
        url = f"/v1/federations/{federation_id}/rounds/{round_id}/close"
        return dict(self.transport.post(url).json())

    def abort(self, federation_id: str, round_id: str) -> dict[str, Any]:
        url = f"/v1/federations/{federation_id}/rounds/{round_id}/abort"
        return dict(self.transport.post(url).json())

    def global_adapter(self, federation_id: str) -> np.ndarray:
        data = self.transport.get(f"/v1/federations/{federation_id}/global").content
        return np.frombuffer(data, dtype="<f8").copy()

    def set_global_adapter(self, federation_id: str, values: np.ndarray) -> None:
        """The starting adapter (e.g. plain LoRA's shared A); refused once a round closed."""
        data = np.ascontiguousarray(values, dtype="<f8").tobytes()
        self.transport.put(f"/v1/federations/{federation_id}/global", content=data,
                           headers={"Content-Type": "application/octet-stream"})

    def privacy_report(self, federation_id: str, *, html: bool = False) -> Any:
        """The federation's privacy report: a dict (schema blindsum.privacy-report/v1) or HTML."""
        response = self.transport.get(f"/v1/federations/{federation_id}/privacy-report",
                                      params={"format": "html" if html else "json"})
        return response.text if html else response.json()

    def result(self, federation_id: str, round_id: str, *, average: bool = False) -> np.ndarray:
        """The closed round's sum (or average over its contributors), float64."""
        kind = "average" if average else "sum"
        url = f"/v1/federations/{federation_id}/rounds/{round_id}/result/{kind}"
        return np.frombuffer(self.transport.get(url).content, dtype="<f8").copy()
