"""The dnsperf benchmark of issue 6: dnsd against dnsmasq and Docker's embedded DNS.

Run it with `python -m bench` (see bench/README.md). This package only measures;
it must not import or change dnsd's code, and it sends traffic only to loopback
and to containers it created itself.
"""
