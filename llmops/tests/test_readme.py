"""The README's configuration tables list exactly the variables `.env.example` documents."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_lists_every_documented_variable():
    documented = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Configuration")
    section = readme[start : readme.index("\n## ", start + 1)]
    listed = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.M)

    assert [name for name in documented if name not in listed] == [], "add these rows to README's Configuration"
    assert [name for name in listed if name not in documented] == [], "these rows are not in .env.example"
