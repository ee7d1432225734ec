"""The security suite: each test reproduces one finding of the hostile-input review (issue 10).

Tests reuse the routing and service helpers (stand-in matcher, panels files, settings), so their
folders go on the path here.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "routing", HERE.parent / "service"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
