#!/usr/bin/env bash
# scripts/local_slurm.sh start|stop [DIR]
# A real two-node SLURM on 127.0.0.1 (tests/slurm_cluster.py): `start` launches munged, slurmctld and
# two slurmd in DIR (default runs/local-slurm) and prints the export to use it:
#   eval "$(scripts/local_slurm.sh start)" && sinfo
# `stop` stops those daemons by their recorded pids. Needs: apt-get install -y slurm-wlm munge (as root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$(command -v python3)}"
[[ -x "$here/.venv/bin/python" ]] && python="${PYTHON:-$here/.venv/bin/python}"
case "${1:-}" in
  start|stop) exec "$python" "$here/tests/slurm_cluster.py" "$1" "${2:-$here/runs/local-slurm}" ;;
  *) echo "usage: scripts/local_slurm.sh start|stop [DIR]" >&2; exit 2 ;;
esac
