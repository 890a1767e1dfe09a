"""``python -m reelserve`` is the CLI."""

from __future__ import annotations

from reelserve.cli import main

main()
