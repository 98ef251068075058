#!/usr/bin/env bash
# No two modules include each other in a loop (docs/architecture.md).
# A module is a source and its header by name (src/feed.c +
# include/slotfeed/feed.h); module A uses B when a file of A includes B's
# header. Any strongly connected set of two or more modules fails the
# test: there is no exception (the adapters read the region types in
# conf_types.h, so conf may call the adapter table without a loop).
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:?}

python3 - "$src" <<'EOF'
import os
import re
import sys

root = sys.argv[1]
# Loops allowed: none (docs/architecture.md).
allowed = set()

uses = {}
for top in ("src", "adapters", "sim", "include/slotfeed"):
    d = os.path.join(root, top)
    for dirpath, _, names in os.walk(d):
        for n in names:
            if not n.endswith((".c", ".h")):
                continue
            mod = n.rsplit(".", 1)[0]
            with open(os.path.join(dirpath, n), encoding="utf-8") as f:
                text = f.read()
            deps = uses.setdefault(mod, set())
            for inc in re.findall(r'#include "slotfeed/(\w+)\.h"', text):
                if inc != mod:
                    deps.add(inc)
                    uses.setdefault(inc, set())

# Tarjan's strongly connected components, iteratively.
index, low, on, stack, loops = {}, {}, set(), [], []
counter = 0
for start in sorted(uses):
    if start in index:
        continue
    work = [(start, iter(sorted(uses[start])))]
    index[start] = low[start] = counter
    counter += 1
    stack.append(start)
    on.add(start)
    while work:
        v, it = work[-1]
        for w in it:
            if w not in index:
                index[w] = low[w] = counter
                counter += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(uses[w]))))
                break
            if w in on:
                low[v] = min(low[v], index[w])
        else:
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    loops.append(comp)

bad = [c for c in loops if not c <= allowed]
for c in loops:
    edges = ", ".join(f"{a} -> {b}" for a in sorted(c)
                      for b in sorted(uses[a] & c))
    print(("LOOP: " if c in bad else "known loop: ") + edges)
print(f"{len(uses)} modules, {len(bad)} loop(s) not allowed")
sys.exit(1 if bad else 0)
EOF
