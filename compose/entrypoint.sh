#!/bin/sh
# Container entrypoint for dnsd. `dnsd serve` without --dns-listen (and without DNSD_DNS_LISTEN)
# listens on the container's own address, port 53: not on 0.0.0.0, because a wildcard listener
# makes dnsd skip loopback upstreams on port 53, and inside a container the upstream is Docker's
# embedded resolver at 127.0.0.11:53.
set -eu
if [ "${1:-}" = "serve" ] && [ -z "${DNSD_DNS_LISTEN:-}" ]; then
  case " $* " in
    *" --dns-listen"*) ;;
    *)
      address=127.0.0.1
      for candidate in $(hostname -i); do
        case "$candidate" in *:*) ;; *) address=$candidate; break ;; esac
      done
      shift
      set -- serve --dns-listen "${address}:53" "$@"
      ;;
  esac
fi
exec dnsd "$@"
