"""Google Cloud Storage backend on `google-cloud-storage`.

- Every request retries transient errors (429, 5xx, connection resets) with
  exponential backoff; conditional writes are retried only under their
  generation precondition, so a retry can never clobber another writer.
- Objects above `RESUMABLE_THRESHOLD` are uploaded with resumable uploads in
  `CHUNK_SIZE` chunks, so a dropped connection resumes instead of restarting.
- With STORAGE_EMULATOR_HOST set the client talks to the emulator
  (fake-gcs-server in the tests) with anonymous credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from xdiag.errors import BadRequest, NotFound, PreconditionFailed, StoreError
from xdiag.store.base import ObjectStore, check_key

CHUNK_SIZE = 8 * 1024 * 1024  # multiple of 256 KiB, as the resumable protocol requires
RESUMABLE_THRESHOLD = 16 * 1024 * 1024
RETRY: Retry = DEFAULT_RETRY.with_deadline(120.0).with_delay(initial=0.25, maximum=8.0)


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

    def _fail(self, exc: Exception, key: str) -> Exception:
        if isinstance(exc, gexc.NotFound):
            return NotFound(f"no object {key!r} in {self.url}")
        if isinstance(exc, gexc.PreconditionFailed):
            return PreconditionFailed(f"{key!r} changed concurrently (generation mismatch)")
        return StoreError(f"GCS request for {key!r} in {self.url} failed: {exc}")

    def read(self, key: str) -> bytes:
        return self.read_versioned(key)[0]

    def read_versioned(self, key: str) -> tuple[bytes, int]:
        blob = self.bucket.blob(self._name(key))
        try:
            data = blob.download_as_bytes(retry=RETRY)
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return data, int(blob.generation or 0)

    def write(self, key: str, data: bytes, *, if_generation: int | None = None) -> int:
        blob = self.bucket.blob(self._name(key))
        if len(data) > RESUMABLE_THRESHOLD:
            blob.chunk_size = CHUNK_SIZE
        try:
            blob.upload_from_string(
                bytes(data),
                content_type="application/octet-stream",
                if_generation_match=if_generation,
                retry=RETRY,
            )
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return int(blob.generation or 0)

    def write_file(self, key: str, path: Path) -> int:
        blob = self.bucket.blob(self._name(key))
        if Path(path).stat().st_size > RESUMABLE_THRESHOLD:
            blob.chunk_size = CHUNK_SIZE
        try:
            blob.upload_from_filename(str(path), retry=RETRY)
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return int(blob.generation or 0)

    def download_to(self, key: str, path: Path) -> None:
        blob = self.bucket.blob(self._name(key))
        try:
            blob.download_to_filename(str(path), retry=RETRY)
        except gexc.GoogleAPICallError as exc:
            Path(path).unlink(missing_ok=True)
            raise self._fail(exc, key) from None

    def generation(self, key: str) -> int:
        try:
            blob = self.bucket.get_blob(self._name(key), retry=RETRY)
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return 0 if blob is None else int(blob.generation or 0)

    def size(self, key: str) -> int | None:
        try:
            blob = self.bucket.get_blob(self._name(key), retry=RETRY)
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return None if blob is None else int(blob.size or 0)

    def list(self, prefix: str) -> list[str]:
        try:
            blobs = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix, retry=RETRY)
            return sorted(b.name[len(self.prefix) :] for b in blobs)
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, prefix) from None

    def delete(self, key: str) -> bool:
        try:
            self.bucket.blob(self._name(key)).delete(retry=RETRY)
        except gexc.NotFound:
            return False
        except gexc.GoogleAPICallError as exc:
            raise self._fail(exc, key) from None
        return True
