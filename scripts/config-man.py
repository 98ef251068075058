#!/usr/bin/env python3
"""slotfeed.json(5) from docs/config.md.

docs/config.md is the one description of the region file; the man page is
made from it at build time (CMake target `man`, the Debian package), so the
two cannot drift. Only the Markdown docs/config.md uses is understood:
headings, paragraphs, "- " lists, fenced code, key tables
(| key | type | default | meaning |), `code` and **bold**.

usage: config-man.py CONFIG_MD VERSION OUT
"""
import re
import sys

NAME_LINE = r"slotfeed.json \- region configuration file of slotfeed"


def inline(text):
    """Markdown inline text to roff: escapes first, then code and bold."""
    text = text.replace("\\", "\\e")
    parts = []
    # ``x`` (a code span that holds a backtick) before `x`
    for i, piece in enumerate(re.split(r"(``\s?.+?\s?``|`[^`]+`)", text)):
        if i % 2 == 1:
            code = piece.strip("`").strip() if piece.startswith("``") \
                else piece[1:-1]
            parts.append("\\fB" + code.replace("-", "\\-") + "\\fR")
        else:
            parts.append(re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", piece))
    return "".join(parts)


def roff_line(line):
    """A text line roff will not take for a request."""
    line = line.strip()
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def table_row(cells, head):
    """One key table row as a tagged paragraph."""
    row = dict(zip(head, cells))
    key = row.get("key", cells[0])
    tag = inline(key)
    typ = row.get("type", "")
    default = row.get("default", "")
    extra = inline(typ) if typ else ""
    if default:
        extra += ("; " if extra else "") + "default: " + inline(default)
    out = [".TP", roff_line(tag + (" (" + extra + ")" if extra else ""))]
    out.append(roff_line(inline(row.get("meaning", cells[-1]))))
    return out


def convert(md, version):
    lines = md.splitlines()
    out = [
        '.\\" Generated from docs/config.md by scripts/config-man.py;'
        " edit that file, not this one.",
        '.TH SLOTFEED.JSON 5 "" "slotfeed %s" "File Formats"' % version,
        ".SH NAME",
        NAME_LINE,
        ".SH SYNOPSIS",
        "/etc/slotfeed/region.json",
        ".SH DESCRIPTION",
    ]
    i, n = 0, len(lines)
    head = None
    first_heading = True
    while i < n:
        line = lines[i]
        if line.startswith("```"):
            out += [".PP", ".RS 4", ".nf"]
            i += 1
            while i < n and not lines[i].startswith("```"):
                code = lines[i].replace("\\", "\\e")
                out.append("\\&" + code if code else "")
                i += 1
            out += [".fi", ".RE"]
            i += 1
            continue
        m = re.match(r"(#+)\s+(.*)", line)
        if m:
            level, title = len(m.group(1)), m.group(2)
            if level == 1 and first_heading:
                first_heading = False   # the title: NAME says it
            elif level <= 2:
                out.append(".SH " + inline(title).upper().replace(
                    "\\FB", "\\fB").replace("\\FR", "\\fR"))
            else:
                out.append(".SS " + inline(title))
            i += 1
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if head is None:
                head = cells
                out.append(".PP")
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                out += table_row(cells, head)
            i += 1
            if i >= n or not lines[i].startswith("|"):
                head = None
            continue
        # A list item or paragraph is joined first: a code span may
        # continue on the next source line.
        if line.startswith("- "):
            text = [line[2:]]
            i += 1
            while i < n and lines[i].startswith("  ") and lines[i].strip():
                text.append(lines[i].strip())
                i += 1
            out += [".IP \\(bu 2", roff_line(inline(" ".join(text)))]
            continue
        if not line.strip():
            i += 1
            continue
        text = []
        while i < n and lines[i].strip() and not re.match(
                r"(#|```|\||- )", lines[i]):
            text.append(lines[i].strip())
            i += 1
        out += [".PP", roff_line(inline(" ".join(text)))]
    out += [
        ".SH FILES",
        ".TP",
        "/etc/slotfeed/region.json",
        "The region file the packaged service reads (a conffile).",
        ".TP",
        "/usr/share/slotfeed/geo\\-varmland.json",
        "The place table for \\fBnear=\\fR (key \\fBgeo\\fR).",
        ".SH SEE ALSO",
        ".BR slotfeed (8),",
        ".BR slotfeed\\-sim (1)",
    ]
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        page = convert(f.read(), argv[2])
    with open(argv[3], "w", encoding="utf-8") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
