"""Third-party browser assets installed at set-up time: the Label Studio editor bundle.

`bin/setup` puts `@heartexlabs/label-studio` (npm) under `.run/vendor/`; it is never committed.
Only the files a page needs are served, by a fixed name, so no request can name another path.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_file

from accounts.auth import requires
from accounts.models import Role
from config import ROOT
from errors import NotFound

vendor = Blueprint("vendor", __name__, url_prefix="/vendor")
LABEL_STUDIO_VERSION = "1.4.0"
DEFAULT_EDITOR_DIR = ROOT / ".run" / "vendor" / "node_modules" / "@heartexlabs" / "label-studio" / "build"
# The URL names a page may ask for, and the file inside the package's build/ folder each serves.
EDITOR_FILES = {"main.js": "static/js/main.js", "main.css": "static/css/main.css"}


def editor_dir() -> Path:
    """Where the editor's build/ folder is (overridable for tests and deployments)."""
    return Path(current_app.config.get("LABEL_STUDIO_EDITOR_DIR") or DEFAULT_EDITOR_DIR)


# Any signed-in user: the editor serves managers' previews and annotators' work alike. Not public,
# so the audit list of open routes stays short.
@vendor.get("/label-studio/<name>")
@requires(*Role)
def label_studio_asset(name: str):
    """The Label Studio editor's script or stylesheet; 404 for any other name."""
    relative = EDITOR_FILES.get(name)
    if relative is None:
        raise NotFound(f"no vendor file {name!r}")
    path = editor_dir() / relative
    if not path.is_file():
        raise NotFound("the Label Studio editor is not installed: run bin/setup")
    # The version is pinned and pages add it to the URL, so the files can be cached for long.
    return send_file(path, max_age=30 * 86400, conditional=True)
