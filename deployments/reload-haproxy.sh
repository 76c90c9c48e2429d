#!/bin/sh
# reload_cmd for the Data Plane API: save the runtime server state, ask the
# HAProxy master to reload, and wait until it reports the outcome, so that a
# failed reload shows up as "failed" in /v2/services/haproxy/reloads (a bare
# kill -USR2 always "succeeds"). Needs socat.
#   MASTER_SOCKET  master CLI socket (haproxy -S ...)
#   STATS_SOCKET   stats socket (for "show servers state")
#   STATE_FILE     server-state-file of the global section
S=${MASTER_SOCKET:-/var/run/haproxy/master.sock}
STATS=${STATS_SOCKET:-/var/run/haproxy/haproxy.sock}
STATE=${STATE_FILE:-/var/state/haproxy/global}
if [ -S "$STATS" ]; then
  echo "show servers state" | socat - "unix-connect:$STATS" > "$STATE.tmp" 2>/dev/null && mv "$STATE.tmp" "$STATE"
fi
get() { echo "show proc" | socat - "unix-connect:$S" 2>/dev/null | awk '$2=="master"{gsub(/\]/,"",$5); print $3" "$5}'; }
b=$(get); before=${b% *}
echo reload | socat - "unix-connect:$S" >/dev/null
i=0
while [ $i -lt 200 ]; do
  sleep 0.05
  a=$(get); r=${a% *}; f=${a#* }
  if [ -n "$r" ] && [ "$r" != "$before" ]; then
    [ "$f" = "0" ] && exit 0
    echo "haproxy master reports failed reload (failed: $f)" >&2
    exit 1
  fi
  i=$((i+1))
done
echo "timeout waiting for haproxy master reload" >&2
exit 1
