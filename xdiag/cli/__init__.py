"""The `xdiag` command line (`main.py`), its HTTP client, and the `make run` demo."""
