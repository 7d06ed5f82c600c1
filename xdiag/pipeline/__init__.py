"""The writers: capture, admission of host files, ingest into derived views."""
