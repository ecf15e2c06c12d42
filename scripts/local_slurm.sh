#!/usr/bin/env bash
# scripts/local_slurm.sh start|stop [DIR] [--accounting]
# A real two-node SLURM on 127.0.0.1 (tests/slurm_cluster.py): `start` launches munged, slurmctld and
# two slurmd in DIR (default runs/local-slurm) and prints the export to use it:
#   eval "$(scripts/local_slurm.sh start)" && sinfo
# `--accounting` adds a private mariadbd and slurmdbd, so `sacct` works (needs slurmdbd and
# mariadb-server too). `stop` stops the daemons by their recorded pids.
# Needs: apt-get install -y slurm-wlm munge (as root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$(command -v python3)}"
[[ -x "$here/.venv/bin/python" ]] && python="${PYTHON:-$here/.venv/bin/python}"
cmd="${1:-}"; shift || true
dir="$here/runs/local-slurm"; extra=()
for a in "$@"; do
  if [[ "$a" == --accounting ]]; then extra+=(--accounting); else dir="$a"; fi
done
case "$cmd" in
  start) exec "$python" "$here/tests/slurm_cluster.py" start "$dir" "${extra[@]}" ;;
  stop) exec "$python" "$here/tests/slurm_cluster.py" stop "$dir" ;;
  *) echo "usage: scripts/local_slurm.sh start|stop [DIR] [--accounting]" >&2; exit 2 ;;
esac
