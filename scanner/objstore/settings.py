"""How to reach a bucket, from the settings users already have.

The standard variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_PROFILE``) are read
here; what they leave open (a profile's keys, region or endpoint in ``~/.aws``) is
resolved by botocore when the bucket is opened. ``--endpoint-url`` overrides the
variable. An ``http://`` endpoint needs no flag. Huawei OBS needs virtual-hosted-style
addressing (the bucket in the host name), which is an option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_REGION = "us-east-1"  # what S3-compatible servers without regions expect


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    virtual_hosted: bool = False
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    max_in_flight: int = 32  # requests at once, per bucket
    attempts: int = 4  # per request: the first try and the retries of a 5xx or timeout
    timeout: float = 30.0  # seconds for one request, connecting included
    connect_timeout: float = 5.0

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        endpoint_url: str | None = None,
        virtual_hosted: bool = False,
        max_in_flight: int | None = None,
    ) -> S3Settings:
        """The environment's settings, ``endpoint_url`` (``--endpoint-url``) first."""
        env = os.environ if environ is None else environ
        return cls(
            endpoint_url=endpoint_url
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
            or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            profile=env.get("AWS_PROFILE") or None,
            virtual_hosted=virtual_hosted,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            **({} if max_in_flight is None else {"max_in_flight": max_in_flight}),
        )

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any text omscan writes."""
        return tuple(s for s in (self.secret_access_key, self.session_token) if s)
