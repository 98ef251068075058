# Process helpers for the tests/cli scripts (sourced, not a test itself).

# stop PID: TERM, up to 5 s to exit, then KILL (a stuck process must not
# hold a test until ctest's timeout).
stop() {
    local i
    kill "$1" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    return 0
}

# wait_line FILE PATTERN PID SECONDS: until FILE has a line matching
# PATTERN (0), PID has exited (1) or SECONDS have passed (1).
wait_line() {
    local i
    for i in $(seq 1 $(($4 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# service_user_args DIR: `slotfeed run` refuses root without --user. When
# root, prints "--user nobody" and hands DIR to nobody, so the daemon can
# still reach its files there once it has switched (the config re-read on
# SIGHUP, the store's -wal/-shm files). Prints nothing otherwise.
service_user_args() {
    if [ "$(id -u)" -eq 0 ]; then
        chown nobody "$1"
        echo "--user nobody"
    fi
}
