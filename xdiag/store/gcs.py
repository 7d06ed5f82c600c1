"""Google Cloud Storage backend on `google-cloud-storage`.

- Every request retries transient errors (429, 5xx, connection resets) with
  exponential backoff for `RETRY_S` seconds (`XDIAG_STORE_RETRY_S`, default 120);
  conditional writes are retried only under their generation precondition, so a
  retry can never clobber another writer.
- Objects above `RESUMABLE_THRESHOLD` are uploaded with resumable uploads in
  `CHUNK_SIZE` chunks, so a dropped connection resumes instead of restarting; an
  upload session the server lost (404 on a chunk) starts over.
- An outage is a StoreError (HTTP 503) saying so; NotFound (404) means only that
  the object is not there, never that the store could not be asked.
- With STORAGE_EMULATOR_HOST set the client talks to the emulator
  (fake-gcs-server in the tests) with anonymous credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud import storage
from google.cloud.storage import exceptions as media_exc
from google.cloud.storage.retry import DEFAULT_RETRY

from xdiag.core.errors import BadRequest, NotFound, PreconditionFailed, StoreError
from xdiag.store.base import ObjectStore, check_key

CHUNK_SIZE = 8 * 1024 * 1024  # multiple of 256 KiB, as the resumable protocol requires
RESUMABLE_THRESHOLD = 16 * 1024 * 1024
RETRY_S = float(os.environ.get("XDIAG_STORE_RETRY_S") or 120.0)
RETRY: Retry = DEFAULT_RETRY.with_deadline(RETRY_S).with_delay(initial=0.25, maximum=8.0)
# What a request to the store can raise besides an HTTP answer: retries given up,
# connections refused or cut, a broken response.
_FAILURES = (gexc.GoogleAPIError, requests.RequestException, auth_exc.TransportError,
             media_exc.InvalidResponse, media_exc.DataCorruption, OSError)
# Attempts of one upload whose resumable session the server lost.
_UPLOAD_ATTEMPTS = 3


def _reason(exc: BaseException) -> str:
    """The cause of a failed request in words (not the client's exception text)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, requests.Timeout | TimeoutError):
            return "no answer in time"
        if isinstance(cur, requests.ConnectionError | ConnectionError):
            return "connection failed"
        cur = cur.__cause__ or cur.__context__ or getattr(cur, "cause", None)
        seen += 1
    if isinstance(exc, gexc.GoogleAPICallError) and exc.code:
        return f"HTTP {int(exc.code)} {getattr(exc.code, 'phrase', '') or ''}".strip()
    return type(exc).__name__


def _client() -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="xdiag-emulator", credentials=AnonymousCredentials())
    return storage.Client()


class GCSStore(ObjectStore):
    recheck_s = 1.0

    def __init__(self, bucket: str, prefix: str = "", client: storage.Client | None = None) -> None:
        if not bucket:
            raise BadRequest("gs:// URL without a bucket name")
        self.client = client or _client()
        self.bucket = self.client.bucket(bucket)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"gs://{bucket}/{self.prefix}".rstrip("/")

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, exc: BaseException, key: str, *, reading: bool = True) -> Exception:
        """Our error for a failed request. A 404 to a write or a listing means the
        bucket (or an upload session) is gone, not that an object is missing."""
        if isinstance(exc, gexc.NotFound) and reading:
            return NotFound(f"no object {key!r} in {self.url}")
        if isinstance(exc, gexc.PreconditionFailed):
            return PreconditionFailed(f"{key!r} changed concurrently (generation mismatch)")
        if isinstance(exc, gexc.NotFound):
            return StoreError(f"the store {self.url} answered 404 to a write of {key!r}: its "
                              "bucket does not exist (any more?); check the --store URL",
                              retry_after=30)
        if isinstance(exc, gexc.GoogleAPICallError) and exc.code:
            return StoreError(f"the store {self.url} refused the request for {key!r} "
                              f"({_reason(exc)}); check its permissions and quota",
                              retry_after=30)
        return StoreError(f"the store {self.url} is not answering ({_reason(exc)}, retried "
                          f"for up to {RETRY_S:.0f} s); try again once it is reachable",
                          retry_after=10)

    def _upload(self, key: str, send: Any) -> int:
        """Run an upload; start it over when the server lost its resumable session."""
        for attempt in range(_UPLOAD_ATTEMPTS):
            try:
                return send()
            except gexc.NotFound as exc:
                if attempt + 1 == _UPLOAD_ATTEMPTS:
                    raise self._fail(exc, key, reading=False) from None
            except _FAILURES as exc:
                raise self._fail(exc, key, reading=False) from None
        raise AssertionError("unreachable")

    def read(self, key: str) -> bytes:
        return self.read_versioned(key)[0]

    def read_versioned(self, key: str) -> tuple[bytes, int]:
        blob = self.bucket.blob(self._name(key))
        try:
            data = blob.download_as_bytes(retry=RETRY)
        except _FAILURES as exc:
            raise self._fail(exc, key) from None
        return data, int(blob.generation or 0)

    def write(self, key: str, data: bytes, *, if_generation: int | None = None) -> int:
        blob = self.bucket.blob(self._name(key))
        if len(data) > RESUMABLE_THRESHOLD:
            blob.chunk_size = CHUNK_SIZE

        def send() -> int:
            blob.upload_from_string(bytes(data), content_type="application/octet-stream",
                                    if_generation_match=if_generation, retry=RETRY)
            return int(blob.generation or 0)

        return self._upload(key, send)

    def write_file(self, key: str, path: Path) -> int:
        blob = self.bucket.blob(self._name(key))
        if Path(path).stat().st_size > RESUMABLE_THRESHOLD:
            blob.chunk_size = CHUNK_SIZE

        def send() -> int:
            blob.upload_from_filename(str(path), retry=RETRY)
            return int(blob.generation or 0)

        return self._upload(key, send)

    def download_to(self, key: str, path: Path, *, generation: int | None = None) -> None:
        blob = self.bucket.blob(self._name(key), generation=generation or None)
        try:
            blob.download_to_filename(str(path), retry=RETRY)
        except _FAILURES as exc:
            Path(path).unlink(missing_ok=True)
            raise self._fail(exc, key) from None

    def generation(self, key: str) -> int:
        try:
            blob = self.bucket.get_blob(self._name(key), retry=RETRY)
        except _FAILURES as exc:
            raise self._fail(exc, key) from None
        return 0 if blob is None else int(blob.generation or 0)

    def size(self, key: str) -> int | None:
        try:
            blob = self.bucket.get_blob(self._name(key), retry=RETRY)
        except _FAILURES as exc:
            raise self._fail(exc, key) from None
        return None if blob is None else int(blob.size or 0)

    def list(self, prefix: str) -> list[str]:
        try:
            blobs = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix, retry=RETRY)
            return sorted(b.name[len(self.prefix) :] for b in blobs)
        except _FAILURES as exc:
            raise self._fail(exc, prefix or "/", reading=False) from None

    def delete(self, key: str, *, if_generation: int | None = None) -> bool:
        try:
            self.bucket.blob(self._name(key)).delete(if_generation_match=if_generation,
                                                     retry=RETRY)
        except gexc.NotFound:
            return False
        except _FAILURES as exc:
            raise self._fail(exc, key) from None
        return True
