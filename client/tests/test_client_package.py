"""The client package stands alone: importing it (and its command line) loads nothing of the server."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_client_loads_no_django_and_no_server_module():
    code = (
        "import sys, llmops_client, llmops_client.cli; "
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'rest_framework', 'prompts', 'experiments', 'runs', 'evaluation', 'accounts', 'llmops'}); "
        "print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "[]"
