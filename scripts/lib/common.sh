# shellcheck shell=bash
# Helpers shared by scripts/stack and scripts/k8s-tools, which both run
# long-lived daemons on 127.0.0.1 ports from a per-checkout state directory.
# Sourced relative to the script's own directory:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Messages are prefixed with $LOG_NAME (default: the script's file name).
# File descriptor 9 is the scripts' lock (exec 9>lockfile; flock 9): spawn
# closes it in the daemons it starts.

log() { printf '%s: %s\n' "${LOG_NAME:-${0##*/}}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${LOG_NAME:-${0##*/}}" "$*" >&2; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------- ports

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port [port...]: a random port in 20000-32767, below Linux's ephemeral
# range (32768+) so an outgoing connection never squats on it between our
# restarts; not listening, and none of the ports given.
pick_port() {
  local p i taken
  taken=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' || true; printf '%s\n' "$@")
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12768))
    grep -qx "$p" <<<"$taken" && continue
    port_open "$p" && continue
    echo "$p"; return 0
  done
  die "could not find a free port"
}

# Ports are chosen once and persisted in a file of NAME=port lines, so that
# restarts reuse them.
# load_ports <file> NAME...: source <file>; true if it sets every NAME.
load_ports() {
  local file=$1 name; shift
  [[ -f $file ]] || return 1
  # shellcheck disable=SC1090
  source "$file"
  for name in "$@"; do [[ -n ${!name:-} ]] || return 1; done
}

# choose_ports <file> NAME...: a distinct free port for each NAME, written to
# <file> at once (then loaded), replacing what it held.
choose_ports() {
  local file=$1 name chosen=(); shift
  for name in "$@"; do chosen+=("$(pick_port "${chosen[@]}")"); done
  for name in "$@"; do echo "$name=${chosen[0]}"; chosen=("${chosen[@]:1}"); done >"$file.tmp"
  mv "$file.tmp" "$file"
  load_ports "$file" "$@"
}

# ---------------------------------------------------------------- processes

# True if process $1 runs executable $2 (basename of argv[0]) with an argument
# exactly equal to $3 (the daemon's unique config/data path).
proc_matches() {
  local args=() a
  { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
  ((${#args[@]})) && [[ ${args[0]##*/} == "$2" ]] || return 1
  for a in "${args[@]:1}"; do [[ $a == "$3" ]] && return 0; done
  return 1
}

# find_pid <pidfile> <exe> <marker>: pid of our live daemon, from the pid
# file, else by scanning /proc (so a lost or stale pid file neither orphans a
# running daemon nor gets trusted after pid reuse). The pid file is rewritten
# or removed accordingly. Processes are never found by name alone.
find_pid() {
  local pidfile=$1 exe=$2 marker=$3 pid="" p
  [[ -f $pidfile ]] && pid=$(<"$pidfile")
  if [[ -n $pid ]] && proc_matches "$pid" "$exe" "$marker"; then echo "$pid"; return 0; fi
  for p in /proc/[0-9]*; do
    if proc_matches "${p#/proc/}" "$exe" "$marker"; then
      echo "${p#/proc/}" >"$pidfile"; echo "${p#/proc/}"; return 0
    fi
  done
  rm -f "$pidfile"
  return 1
}

# stop_pid <pid> <seconds> [signal]: send SIGTERM (or the signal given), wait
# up to <seconds>, then SIGKILL.
stop_pid() {
  local pid=$1 timeout=$2 sig=${3:-TERM} i
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid did not exit in ${timeout}s, killing"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

# spawn <log> <cmd...>: start a daemon detached from our session (setsid), so
# Ctrl-C or closing the terminal does not take it down; all stdio goes to
# <log>; prints its pid. 9>&-: the daemon must not inherit (and so hold
# forever) our lock fd.
spawn() {
  local logfile=$1; shift
  setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  echo $!
}

# wait_for <seconds> <what> <pid> <check-fn> <log>: until <check-fn> succeeds;
# fails showing the log's end when <pid> exits first or time runs out.
wait_for() {
  local timeout=$1 what=$2 pid=$3 check=$4 logfile=$5 i
  for ((i = 0; i < timeout * 5; i++)); do
    "$check" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$what exited; see $logfile"
    fi
    sleep 0.2
  done
  tail -n 30 "$logfile" >&2 || true
  die "$what not ready after ${timeout}s; see $logfile"
}
