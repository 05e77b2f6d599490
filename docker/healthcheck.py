"""Health check of the `web` process: GET /api/v1/health?workers=false on this container.

Exit status 0 when the endpoint answers 200 (database and broker reachable), 1 otherwise, as
Docker's HEALTHCHECK expects. Worker availability is left out on purpose: a worker restart must
not mark the web tier unhealthy. The Host header is the first concrete ALLOWED_HOSTS entry, so
the request passes Django's host validation in production too.
"""

import os
import sys
import urllib.error
import urllib.request


def host_header() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        name = entry.strip().lstrip(".")
        if name and "*" not in name:
            return name
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/api/v1/health?workers=false"
    request = urllib.request.Request(url, headers={"Host": host_header()})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - fixed http URL
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"unhealthy: {url}: {error}")
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
