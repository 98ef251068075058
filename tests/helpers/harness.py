"""Shared by the python-driven tests/cli scripts (drain.sh, reload.sh):
a work directory, the processes a script started, and waiting on
conditions with deadlines instead of fixed sleeps. Import after putting
tests/helpers on sys.path, then call init(name) once."""
import json
import os
import subprocess
import sys
import tempfile
import time

work = None
procs = []        # only the processes this script started
user_args = []    # ["--user", "nobody"] when run as root
_name = "test"


def init(name):
    """Make the work directory; as root, hand it to nobody, because
    `slotfeed run` refuses root without --user and the daemon reads its
    config and writes its store there after switching."""
    global work, _name
    _name = name
    work = tempfile.mkdtemp(prefix=name + ".")
    if os.geteuid() == 0:
        import pwd
        os.chown(work, pwd.getpwnam("nobody").pw_uid, -1)
        user_args[:] = ["--user", "nobody"]
    return work


def time_scale():
    """The factor on "within N s" bounds (SLOTFEED_TEST_TIME_SCALE, set
    by CMakeLists.txt: 1, more in the sanitizer build; th_scale.h is the
    C side). Bounds that mean an order or a count are not scaled."""
    try:
        v = int(os.environ.get("SLOTFEED_TEST_TIME_SCALE", "1"))
    except ValueError:
        return 1
    return v if 1 <= v <= 100 else 1


def fail(msg):
    print("%s.sh: FAIL: %s" % (_name, msg), file=sys.stderr)
    for log in ("run.err", "sim.err"):
        p = os.path.join(work, log)
        if os.path.exists(p):
            print("--- %s (tail)" % log, file=sys.stderr)
            print("".join(open(p, errors="replace").readlines()[-25:]),
                  file=sys.stderr)
    sys.exit(1)


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(["rm", "-rf", work])


def wait_for(what, fn, seconds, proc=None, step=0.02):
    """Poll fn() until it returns a true value (returned) or the deadline
    passes (fail); proc exiting meanwhile fails at once."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            fail("%s: process exited (%s)" % (what, proc.returncode))
        time.sleep(step)
    fail("%s: not within %d s" % (what, seconds))


def read(name):
    try:
        return open(os.path.join(work, name), errors="replace").read()
    except OSError:
        return ""


def write_json(name, obj):
    # Written aside and renamed: the daemon never reads half a file.
    tmp = os.path.join(work, name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
    os.replace(tmp, os.path.join(work, name))
