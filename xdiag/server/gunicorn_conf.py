"""gunicorn settings the image runs with: `gunicorn --config python:xdiag.server.gunicorn_conf`.

The Dockerfile's command line sets the rest (bind, workers, timeouts). Flags there and in
GUNICORN_CMD_ARGS override these.
"""

# Access and error logs with share links, tokens and IAP assertions masked (logs.py),
# whatever `access_log_format` says.
logger_class = "xdiag.server.logs.GunicornLogger"

# Forwarded headers (X-Forwarded-Proto/-For/-Host) are judged by the app alone, against
# XDIAG_TRUSTED_PROXIES (server/gate.py); gunicorn's own default would believe any
# process on the pod's loopback.
forwarded_allow_ips = ""
