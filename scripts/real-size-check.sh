#!/usr/bin/env bash
# Measured real-size numbers: builds a random-weight diffusers folder at the real Wan2.1-T2V-1.3B or
# LTX-Video 2B configuration (`python -m kino_export realsize`), exports it, deletes the folder,
# generates a short clip with a cold then a warm optimised-graph cache, runs `kino bench`, and
# prints a markdown table (also written to $DIR/FAMILY-DTYPE.md). Heavy: ~15 GB folders, up to ~60 GB
# of disk, and the export's memory (docs/models.md); not for CI. See docs/models.md, "Measuring real sizes".
#
#   scripts/real-size-check.sh wan|ltx [fp16|fp32] [--keep]
#
# Environment: KINO_REALSIZE_DIR (scratch, default ~/.cache/kino/realsize), KINO_BIN (default
# $CARGO_TARGET_DIR/release/kino or target/release/kino), KINO_PYTHON (the exporter's Python),
# REALSIZE_LAYERS=N (text encoder and transformer depth, for a quick trial), ORT_DYLIB_PATH.
# REALSIZE_TINY_WIDTHS=1 uses the test fixtures' widths too (checks the script itself in a minute or two).
# REALSIZE_STEPS=export stops after the export (the package and logs stay); REALSIZE_STEPS=run then
# runs the rest on that package (e.g. with another kino build); the default runs everything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { echo "usage: $0 wan|ltx [fp16|fp32] [--keep]" >&2; exit 2; }
die() { echo "real-size-check: $*" >&2; exit 1; }
FAMILY="" DTYPE="fp16" KEEP=0
for arg in "$@"; do
  case "$arg" in
    wan|ltx) FAMILY="$arg" ;;
    fp16|fp32|bf16) DTYPE="$arg" ;;
    --keep) KEEP=1 ;;
    -h|--help) usage ;;
    *) echo "real-size-check: unknown argument '$arg'" >&2; usage ;;
  esac
done
[ -n "$FAMILY" ] || usage

PYTHON="${KINO_PYTHON:-python3}"
KINO="${KINO_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/kino}"
[ -x "$KINO" ] || die "no kino binary at $KINO: run 'cargo build --release' or set KINO_BIN"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing: install the 'time' package"
export PYTHONPATH="$ROOT/exporter${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import kino_export, torch, diffusers" 2>/dev/null \
  || die "$PYTHON cannot import the exporter's packages: set KINO_PYTHON (source scripts/setup.sh with KINO_SETUP_EXPORTER=1)"
"$PYTHON" -m kino_export "$FAMILY" --help | tr -d '\n ' | grep -q "{[a-z0-9,]*$DTYPE[a-z0-9,]*}" \
  || die "the exporter does not take --dtype $DTYPE; use fp16 or fp32"

BUILD_ARGS=()
[ -n "${REALSIZE_LAYERS:-}" ] && BUILD_ARGS+=(--layers "$REALSIZE_LAYERS")
[ "${REALSIZE_TINY_WIDTHS:-0}" = 1 ] && BUILD_ARGS+=(--tiny-widths)

STEPS="${REALSIZE_STEPS:-all}"
case "$STEPS" in all|export|run) ;; *) die "REALSIZE_STEPS=$STEPS: use all, export or run" ;; esac
DIR="${KINO_REALSIZE_DIR:-$HOME/.cache/kino/realsize}"
WORK="$DIR/$FAMILY-$DTYPE"
if [ "$STEPS" = run ]; then
  [ -f "$WORK/.kino-realsize" ] && [ -f "$WORK/package/kino.json" ] && [ -f "$WORK/logs/export.time" ] \
    || die "REALSIZE_STEPS=run needs the package and logs of an earlier REALSIZE_STEPS=export run in $WORK"
elif [ -e "$WORK" ]; then
  # Only ever delete a folder this script made.
  [ -f "$WORK/.kino-realsize" ] || die "$WORK exists and was not made by this script; move it or set KINO_REALSIZE_DIR"
  rm -rf "$WORK"
fi
mkdir -p "$WORK/logs"
touch "$WORK/.kino-realsize"
FRESH=$([ "$STEPS" = run ] && echo 0 || echo 1)
SRC="$WORK/$FAMILY-realsize" PKG="$WORK/package" LOGS="$WORK/logs"
export KINO_CACHE_DIR="$WORK/cache" KINO_GRAPH_CACHE_MB=65536
trap 'echo "real-size-check: failed; logs in $LOGS (remove $WORK when done)" >&2' ERR

# Disk: the folder and the package exist together during the export; later the package and the
# optimised-graph cache (fp16 weights are stored as fp32 there: about twice an fp16 package).
COUNTS="$("$PYTHON" -m kino_export realsize "$FAMILY" --count "${BUILD_ARGS[@]}")"
read -r FOLDER_BYTES PKG_BYTES CACHE_BYTES < <("$PYTHON" - "$COUNTS" "$FAMILY" "$DTYPE" <<'EOF'
import json, sys
counts, family, dtype = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
size = {"fp16": 2, "bf16": 2, "fp32": 4}[dtype]
folder = sum(counts.values()) * size
vae = 4 if family == "wan" else size  # the Wan exporter keeps its VAE in float32
package = (counts["text_encoder"] + counts["transformer"]) * size + counts["vae"] * vae
cache = package * 4 // size
print(folder, package, cache)
EOF
)
NEED=$(( (FOLDER_BYTES + PKG_BYTES > PKG_BYTES + CACHE_BYTES ? FOLDER_BYTES + PKG_BYTES : PKG_BYTES + CACHE_BYTES) * 11 / 10 ))
FREE=$(( $(df -Pk "$WORK" | awk 'NR==2 {print $4}') * 1024 ))
gb() { awk -v b="$1" 'BEGIN { if (b < 1e9) printf "%.0f MB", b / 1e6; else printf "%.1f GB", b / 1e9 }'; }
echo "real-size-check: $FAMILY $DTYPE in $WORK: folder ~$(gb "$FOLDER_BYTES"), package ~$(gb "$PKG_BYTES"), graph cache ~$(gb "$CACHE_BYTES"); needs $(gb "$NEED") free, $(gb "$FREE") free"
[ "$FRESH" = 0 ] || [ "$FREE" -ge "$NEED" ] || { rm -rf "$WORK"; die "not enough disk in $DIR: needs $(gb "$NEED"), $(gb "$FREE") free; free space or set KINO_REALSIZE_DIR"; }

# timed NAME CMD...: runs CMD under /usr/bin/time -v, output in $LOGS/NAME.log, figures in $LOGS/NAME.time.
timed() {
  local name="$1"; shift
  echo "real-size-check: $name: $*"
  /usr/bin/time -v -o "$LOGS/$name.time" "$@" >"$LOGS/$name.log" 2>&1 \
    || { tail -n 20 "$LOGS/$name.log" >&2; die "$name failed (log: $LOGS/$name.log)"; }
  echo "real-size-check: $name: $(wall "$name"), peak RSS $(rss "$name")"
}
# Elapsed "h:mm:ss" or "m:ss.ss" -> "N s"; "Maximum resident set size (kbytes)" -> "N.N GB".
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f s", s }' "$LOGS/$1.time"; }
rss() { awk -F': ' '/Maximum resident set size/ { printf "%.2f GB", $2 / 1e6 }' "$LOGS/$1.time"; }

if [ "$FRESH" = 1 ]; then
  timed build "$PYTHON" -m kino_export realsize "$FAMILY" --out "$SRC" --dtype "$DTYPE" "${BUILD_ARGS[@]}"
  timed export "$PYTHON" -m kino_export "$FAMILY" --from "$SRC" --out "$PKG" --dtype "$DTYPE"
  rm -rf "$SRC"  # the real folders are 14-15 GB
fi
PKG_SIZE="$(du -sh "$PKG" | cut -f1)"
if [ "$STEPS" = export ]; then
  echo "real-size-check: exported to $PKG ($PKG_SIZE); run again with REALSIZE_STEPS=run for the rest"
  exit 0
fi
rm -rf "$KINO_CACHE_DIR"  # cold means cold

# The shortest clip of more than one latent frame: 1 + the VAE's temporal compression (5 for Wan, 9 for LTX).
FRAMES="$("$PYTHON" -c 'import json, sys; print(1 + json.load(open(sys.argv[1]))["latent"]["temporal_compression"])' "$PKG/kino.json")"
# --no-embed-cache: both runs encode the prompt, so cold and warm differ by the graph cache alone.
GEN=("$KINO" generate "a red circle moving left" --model "$PKG" --size 128x128 --frames "$FRAMES" --steps 2 --seed 1
     --low-memory --no-embed-cache)
timed generate-cold "${GEN[@]}" -o "$WORK/cold.mp4"
timed generate-warm "${GEN[@]}" -o "$WORK/warm.mp4"
THREADS="$(grep -oE '[0-9]+ threads' "$LOGS/generate-warm.log" | head -n1 | cut -d' ' -f1 || true)"

LOADS="n/a (kino bench has no --low-memory)" STEP="n/a"
if "$KINO" bench --help | grep -q -- "--low-memory"; then
  # kino bench measures cold and warm loads with a graph cache of its own (in the temp folder):
  # the runs' cache goes first, or the two would need twice the disk.
  rm -rf "$KINO_CACHE_DIR"
  timed bench "$KINO" bench --model "$PKG" --size 128x128 --frames "$FRAMES" --steps 2 --low-memory --runs 1 --json
  { read -r LOADS; read -r STEP; read -r BENCH_THREADS; } < <("$PYTHON" - "$LOGS/bench.log" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):text.rindex("}") + 1])
parts = ", ".join(f"{c['name']} {c['cold_s']:.1f}/{c['warm_s']:.1f}" for c in r.get("component_loads", []))
print(f"cold {r['load_cold_s']:.1f} s, warm {r['load_warm_s']:.1f} s" + (f" ({parts})" if parts else ""))
print(f"{r['step_ms']['median'] / 1000:.2f}")
print(r["threads"])
EOF
)
  THREADS="${THREADS:-$BENCH_THREADS}"
else
  echo "real-size-check: this kino's bench has no --low-memory; skipping load and per-step times"
fi

MEM="$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
LAYERS="${REALSIZE_LAYERS:-real}"
[ "${REALSIZE_TINY_WIDTHS:-0}" = 1 ] && LAYERS="$LAYERS, tiny widths"
REPORT="$DIR/$FAMILY-$DTYPE.md"
{
  echo "Machine: $(nproc) cores, $MEM RAM; $("$KINO" --version); layers: $LAYERS; generate/bench: 128x128, $FRAMES frames, 2 steps, --low-memory"
  echo
  echo "| family | dtype | threads | export wall | export peak RSS | package | generate cold (wall / peak RSS) | generate warm (wall / peak RSS) | load (bench) | s/step |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  echo "| $FAMILY | $DTYPE | ${THREADS:-$(nproc)} | $(wall export) | $(rss export) | $PKG_SIZE | $(wall generate-cold) / $(rss generate-cold) | $(wall generate-warm) / $(rss generate-warm) | $LOADS | $STEP |"
} >"$REPORT"
echo
cat "$REPORT"
echo
echo "real-size-check: written to $REPORT (logs: $LOGS)"

if [ "$KEEP" = 1 ]; then
  echo "real-size-check: kept $PKG and the graph cache $KINO_CACHE_DIR"
else
  rm -rf "$PKG" "$KINO_CACHE_DIR" "$WORK"/*.mp4
fi
