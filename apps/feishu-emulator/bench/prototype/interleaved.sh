#!/usr/bin/env bash
# Runs the loop bench's outbound part on the prototype's variants and on the real gateway, interleaved:
# ROUNDS rounds (default 3) of every variant named in VARIANTS (default: all below, then `real`).
#   cd apps/feishu-emulator && bash bench/prototype/interleaved.sh
# The bench starts the gateway with a fixed environment (src/gateway-process.ts passes only PATH, LOG_LEVEL,
# HOST, PORT, SQLITE_DRIVER and the bench's own variables), so a variant's PROTO_* settings cannot be passed
# through it: each variant is a two-line entry point written to a temporary folder, which sets them and imports
# the prototype.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROTOTYPE="$PWD/bench/prototype/outbound-loop.mjs"
ROUNDS="${ROUNDS:-3}"
EXAMS="${BENCH_LOOP_EXAMS:-2000}"
VARIANTS="${VARIANTS:-default full steps arrange-with-decision no-batch no-fsync no-db real}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
entry() {
  local name="$1" settings="$2"
  printf "process.env.PROTO_STATS = '1';\n%s\nawait import(%s);\n" "$settings" "'file://$PROTOTYPE'" >"$tmp/$name.mjs"
  echo "$tmp/$name.mjs"
}
declare -A MAIN
MAIN[default]="$(entry default '')"
MAIN[full]="$(entry full "process.env.PROTO_SYNC = 'full';")"
MAIN[steps]="$(entry steps "process.env.PROTO_LOG = 'steps';")"
MAIN[arrange-with-decision]="$(entry arrange-with-decision "process.env.PROTO_ARRANGE = 'with-decision';")"
MAIN[no-fsync]="$(entry no-fsync "process.env.PROTO_DURABLE = 'off';")"
MAIN[no-db]="$(entry no-db "process.env.PROTO_DB = 'off';")"
MAIN[no-batch]="$(entry no-batch "process.env.PROTO_BATCH = 'off';")"
for round in $(seq 1 "$ROUNDS"); do
  for variant in $VARIANTS; do
    load="$(cut -d' ' -f1 /proc/loadavg)"
    if [ "$variant" = real ]; then
      out="$(BENCH_LOOP_ONLY=outbound BENCH_LOOP_EXAMS="$EXAMS" node bench/loop.bench.mjs 2>&1)"
    else
      out="$(FEISHU_EXAM_GATEWAY_MAIN="${MAIN[$variant]}" BENCH_LOOP_ONLY=outbound BENCH_LOOP_EXAMS="$EXAMS" \
        node bench/loop.bench.mjs 2>&1)"
    fi
    all="$(grep -oP 'all threads, /proc\): \K[0-9.]+' <<<"$out" || echo '?')"
    main="$(grep -oP 'main thread\): +\K[0-9.]+' <<<"$out" || echo '?')"
    threads="$(grep -oP 'by thread \(ms\): \K.*' <<<"$out" || echo '?')"
    rate="$(grep -oP 'throughput: \K[0-9]+' <<<"$out" || echo '?')"
    # The prototype's last line (PROTO_STATS): transactions and writes over the whole run, warm-up included.
    stats="$(grep -oP '^prototype: \K.*' <<<"$out" | tail -1 || true)"
    printf 'round %s  %-22s all %s ms  main %s ms  (%s)  %s exams/s  load %s  %s\n' \
      "$round" "$variant" "$all" "$main" "$threads" "$rate" "$load" "$stats"
  done
done
