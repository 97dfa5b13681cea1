"""`python -m dnsd` runs the CLI."""

from dnsd.cli import main

raise SystemExit(main())
