"""`python -m bench`: the one command that runs the whole comparison."""

from bench.dnsperf_compare import main

raise SystemExit(main())
