"""Where everything is kept: the object stores (one interface, `ObjectStore`; a local and a
GCS backend, `open_store`), every key (`layout.py`), the records kept there, and what this
process is still writing (`live.py`)."""

from __future__ import annotations

from pathlib import Path

from xdiag.store.base import ObjectStore

__all__ = ["ObjectStore", "open_store"]


def open_store(url: str | Path) -> ObjectStore:
    """Open a store from a URL: a plain path, `file://path` or `gs://bucket/prefix`."""
    text = str(url)
    if text.startswith("gs://"):
        from xdiag.store.gcs import GCSStore

        bucket, _, prefix = text[len("gs://") :].partition("/")
        return GCSStore(bucket, prefix)
    if text.startswith("file://"):
        text = text[len("file://") :]
    from xdiag.store.local import LocalStore

    return LocalStore(text)
