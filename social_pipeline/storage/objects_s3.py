"""The S3-compatible backend of `objects` (boto3, from the `scale` extra).

Conditional writes are S3's own (`If-None-Match: *`, `If-Match: <etag>`), versions are
ETags, private objects are encrypted at rest (SSE-S3) and get no ACL. Errors name the
object and never carry the secret key, a session token or a request signature.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from social_pipeline.storage.object_store import (
    LIST_PAGE_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    PreconditionFailed,
    Write,
    check_key,
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class S3ObjectStore(ObjectStore):
    """Objects under `s3://bucket/prefix`, through boto3 (the `scale` extra)."""

    local_root = None

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"s3://{bucket}: not a valid S3 bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._session: Any = None
        self._client = client if client is not None else self._new_client()

    def _new_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ObjectStoreError(
                f"{self.location} needs boto3: pip install -e '.[scale]'"
            ) from None
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        plain_http = (endpoint or "").lower().startswith("http://")
        if plain_http and not _truthy(os.environ.get("AWS_ALLOW_HTTP")):
            raise ObjectStoreError(
                f"{self.location}: the endpoint {endpoint} is plain http, which would send "
                "requests unencrypted; use https, or set AWS_ALLOW_HTTP=true for a local "
                "test server"
            )
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 4},
            # S3-compatible servers (MinIO, moto, Ceph) answer on one host: path-style URLs.
            s3={"addressing_style": "path"} if endpoint else None,
        )
        self._session = boto3.session.Session()
        return self._session.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or ("us-east-1" if endpoint else None),
            config=config,
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str = "") -> str:
        return f"{self.location}/{check_key(key)}" if key else self.location

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read(), response["ETag"]
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise self._error("read", key, exc) from None

    def _put(self, key: str, data: bytes, write: Write) -> str:
        if_absent, if_version, private = write.if_absent, write.if_version, write.private
        extra: dict[str, str] = {}
        if if_absent:
            extra["IfNoneMatch"] = "*"
        if if_version is not None:
            extra["IfMatch"] = if_version
        if private:
            # Encrypted at rest with S3-managed keys; no ACL: objects stay owner-only.
            extra["ServerSideEncryption"] = "AES256"
        try:
            response = self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, **extra
            )
        except Exception as exc:
            if if_absent and _is_precondition(exc):
                raise PreconditionFailed(self.describe(key), "it already exists") from None
            if if_version is not None and (_is_precondition(exc) or _is_missing(exc)):
                raise PreconditionFailed(
                    self.describe(key), f"it changed since version {if_version}"
                ) from None
            raise self._error("write", key, exc) from None
        return response["ETag"]

    def delete(self, key: str, *, if_version: str | None = None) -> None:
        extra = {"IfMatch": if_version} if if_version is not None else {}
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except Exception as exc:
            if if_version is not None and (_is_precondition(exc) or _is_missing(exc)):
                raise PreconditionFailed(
                    self.describe(key), f"it changed since version {if_version}"
                ) from None
            if _is_missing(exc):
                return
            raise self._error("delete", key, exc) from None

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_key(prefix, prefix=True)
        root = f"{self.prefix}/" if self.prefix else ""
        found = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=root + prefix,
                PaginationConfig={"PageSize": LIST_PAGE_SIZE},
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(root) :]
                    if key and not key.endswith("/"):  # "folder" placeholder objects
                        found.append(ObjectInfo(key, item["Size"], item["ETag"]))
        except Exception as exc:
            raise self._error("list", prefix, exc) from None
        return sorted(found, key=lambda info: info.key)

    def _copy_to(self, key: str, out: BinaryIO) -> None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            shutil.copyfileobj(response["Body"], out)
        except Exception as exc:
            if _is_missing(exc):
                raise ObjectNotFound(self.describe(key)) from None
            raise self._error("download", key, exc) from None

    def staging(self, key: str) -> Path:
        fd, tmp = tempfile.mkstemp(prefix="social-pipeline-", suffix=".upload")
        os.close(fd)
        return Path(tmp)

    def upload(self, key: str, source: Path) -> str:
        # upload_file sends large files in parts; the object appears whole when the
        # last part completes, or not at all.
        try:
            self._client.upload_file(str(source), self.bucket, self._key(key))
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._error("write", key, exc) from None
        finally:
            Path(source).unlink(missing_ok=True)
        return head["ETag"]

    def _error(self, action: str, key: str, exc: Exception) -> Exception:
        """An error naming the object and what the server said, with every secret removed."""
        where = f"{self.location}/{key}" if key else self.location
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = response["Error"].get("Code", "?")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            said = f"{code} (HTTP {status}): {response['Error'].get('Message', '')}"
        else:
            said = f"{type(exc).__name__}: {exc}"
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, BotoCoreError | ClientError):
            return exc  # not the client's: a bug of ours, left as it is
        return ObjectStoreError(self._scrub(f"cannot {action} {where}: {said}"))

    def _scrub(self, text: str) -> str:
        secrets = [os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN")]
        if self._session is not None:
            with contextlib.suppress(Exception):
                credentials = self._session.get_credentials()
                if credentials is not None:
                    secrets += [credentials.secret_key, credentials.token]
        for secret in secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "[redacted]")
        # Signed URLs and headers, should a message ever quote one.
        return re.sub(
            r"(?i)(X-Amz-Signature|X-Amz-Security-Token|Signature|Credential)=[^&\s]+",
            r"\1=[redacted]",
            text,
        )


def _status(exc: Exception) -> tuple[str, int | None]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", None
    code = str(response.get("Error", {}).get("Code", ""))
    return code, response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _is_missing(exc: Exception) -> bool:
    code, status = _status(exc)
    return code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket")


def _is_precondition(exc: Exception) -> bool:
    code, status = _status(exc)
    # 409 ConditionalRequestConflict: AWS's answer when another conditional write of the
    # same key is in flight; it lost all the same.
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412
