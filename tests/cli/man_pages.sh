#!/usr/bin/env bash
# The man pages: slotfeed.json(5) made from docs/config.md now (as the
# build does), slotfeed(8) and slotfeed-sim(1) as the build fills them in.
#  - every key src/conf.c or an adapter (adapters/*.c) accepts has its row in docs/config.md and its
#    entry in slotfeed.json(5), so the docs cannot lag the loader;
#  - every option in the usage texts of src/main.c (and sim/) is in
#    slotfeed(8) (slotfeed-sim(1)), and every command of `slotfeed --help`;
#  - each page renders with man and groff without a single warning (the
#    check lintian's manpage tags make, -ww on top).
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 "$src/scripts/config-man.py" "$src/docs/config.md" 0.0.0 \
    "$tmp/slotfeed.json.5"
sed 's/@VERSION@/0.0.0/' "$src/man/slotfeed.8" >"$tmp/slotfeed.8"
sed 's/@VERSION@/0.0.0/' "$src/man/slotfeed-sim.1" >"$tmp/slotfeed-sim.1"

# Config keys: every NULL-terminated "keys" table of the loader.
python3 - "$src/src/conf.c" "$src/docs/config.md" "$tmp/slotfeed.json.5" <<'EOF'
import glob, os, re, sys
conf, md, man = (open(p, encoding="utf-8").read() for p in sys.argv[1:])
# Each adapter reads its own booking keys (adapter.h conf_keys).
srcdir = os.path.dirname(os.path.dirname(sys.argv[1]))
for f in sorted(glob.glob(os.path.join(srcdir, "adapters", "*.c"))):
    conf += open(f, encoding="utf-8").read()
keys = set()
for body in re.findall(r"_keys\[\] = \{(.*?)NULL", conf, re.S) + \
        re.findall(r"\bkeys\[\] = \{(.*?)NULL", conf, re.S):
    keys.update(re.findall(r'"([a-z_]+)"', body))
keys.add(re.search(r'CONF_COMMENT_KEY "(\w+)"',
                   open(sys.argv[1].replace("src/conf.c",
                        "include/slotfeed/confcheck.h")).read()).group(1))
if len(keys) < 60:
    sys.exit("FAIL: found only %d keys in src/conf.c and adapters/: pattern broken"
             % len(keys))
missing_md = sorted(k for k in keys
                    if not re.search(r"^\| `%s` \|" % k, md, re.M)
                    and k != "_comment")
missing_man = sorted(k for k in keys
                     if ("\\fB%s\\fR" % k.replace("-", "\\-")) not in man)
if "`_comment`" not in md:
    missing_md.append("_comment")
if missing_md or missing_man:
    sys.exit("FAIL: config keys accepted by src/conf.c or an adapter but not documented:"
             " docs/config.md lacks %s; slotfeed.json(5) lacks %s"
             % (missing_md or "none", missing_man or "none"))
print("config keys: %d, each in docs/config.md and slotfeed.json(5)"
      % len(keys))
EOF

# Options and commands of the usage texts.
options_of() {  # C files...
    sed -n '/^static const char usage[a-z_]*\[\] =/,/;$/p' "$@" |
        grep -o -- '--[a-z][a-z-]*' | sort -u
}
check_options() {  # page files...
    local page=$1 n=0 o; shift
    for o in $(options_of "$@"); do
        grep -qF -- "${o//-/\\-}" "$page" ||
            fail "$(basename "$page") does not describe $o (usage of $*)"
        n=$((n + 1))
    done
    [ "$n" -ge 5 ] || fail "found only $n options in $*: pattern broken"
    echo "$(basename "$page"): all $n options of the usage texts"
}
check_options "$tmp/slotfeed.8" "$src/src/main.c"
check_options "$tmp/slotfeed-sim.1" "$src/sim/sim_main.c" "$src/sim/history_cmd.c"
cmds=$(sed -n '/^static const char usage_main/,/;$/p' "$src/src/main.c" |
       sed -n 's/^ *"  \([a-z-]*\) .*/\1/p')
[ "$(wc -w <<<"$cmds")" -ge 6 ] || fail "commands not found in usage_main"
for c in $cmds; do
    grep -qE "^\.B(R)? ${c//-/\\\\-}( |$)" "$tmp/slotfeed.8" ||
        fail "slotfeed.8 has no entry for the command $c"
done
echo "slotfeed.8: commands $(tr '\n' ' ' <<<"$cmds")"

# Rendering: no warning at all.
for page in "$tmp"/slotfeed.8 "$tmp"/slotfeed-sim.1 "$tmp"/slotfeed.json.5; do
    MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
        >/dev/null 2>"$tmp/warn" || fail "man -l $(basename "$page") failed"
    LC_ALL=C.UTF-8 groff -k -ww -z -man -Tutf8 "$page" 2>>"$tmp/warn" ||
        fail "groff $(basename "$page") failed"
    if [ -s "$tmp/warn" ]; then
        cat "$tmp/warn" >&2
        fail "$(basename "$page") renders with warnings"
    fi
    MANWIDTH=80 man -l "$page" | grep -q "^NAME" || fail "$page: no NAME"
done
echo "man pages render without warnings"
