#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""doc/yaml5.py -- dnsrouter.yaml(5), made from the README's "Configuration reference".

The README's section is the one source: its example block, its table of keys and the
paragraphs after it become the man page, so the two cannot disagree. `make` runs this;
`make install` installs the result.

    /usr/bin/python3 doc/yaml5.py README.md > build/dnsrouter.yaml.5
"""
import re
import sys

SECTION = "## Configuration reference"


def section(text):
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    return text[start:end if end != -1 else len(text)]


def roff(s):
    """Markdown inline text as roff: `code` in bold, **strong** in bold, escapes."""
    s = s.replace("\\", "\\e")
    s = s.replace("-", "\\-")
    s = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", s)
    s = re.sub(r"\*\*([^*]*)\*\*", r"\\fB\1\\fR", s)
    return s


def line(s):
    """A text line, safe at the start of a roff line."""
    s = roff(s.strip())
    return "\\&" + s if s[:1] in (".", "'") else s


def cells(row):
    # split on | outside backticks
    out, cur, code = [], "", False
    for ch in row.strip().strip("|"):
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def main(path):
    body = section(open(path, encoding="utf-8").read())
    example = re.search(r"```yaml\n(.*?)```", body, re.S).group(1)
    rest = body[body.index("```", body.index("```yaml") + 7) + 3:]
    rows = [ln for ln in rest.splitlines() if ln.startswith("| `")]
    after = rest[rest.rindex(rows[-1]) + len(rows[-1]):].strip()
    out = [
        '.TH DNSROUTER.YAML 5 "2026-12-06" "dnsrouter 0.1.0" "File Formats Manual"',
        ".SH NAME",
        "dnsrouter.yaml \\- the configuration of dnsrouter",
        ".SH SYNOPSIS",
        "/etc/dnsrouter/dnsrouter.yaml",
        ".SH DESCRIPTION",
        "One YAML mapping. Every key is optional; a file can be as short as a listen address,",
        "a backend and a route. Unknown keys, wrong types and bad values are errors, reported",
        "as one line \\fIFILE\\fR:\\fILINE\\fR: \\fIproblem\\fR by \\fBdnsrouter \\-t\\fR and at",
        "start; a reload (SIGHUP) that finds one keeps the running configuration.",
        ".SH EXAMPLE",
        ".nf",
    ]
    out += [("\\&" if ln[:1] in (".", "'") else "") + ln.replace("\\", "\\e")
            for ln in example.rstrip("\n").splitlines()]
    out += [".fi", ".SH KEYS",
            "Dotted names are keys of a mapping (\\fBhealth.interval\\fR is \\fBinterval\\fR",
            "under \\fBhealth\\fR); \\fB[]\\fR marks the entries of a list."]
    for row in rows:
        key, typ, default, meaning = (cells(row) + ["", "", "", ""])[:4]
        out += [".TP", line(key), line("%s; default: %s." % (typ, default)), ".br",
                line(meaning)]
    out += [".SH NOTES"]
    for para in re.split(r"\n\s*\n", after):
        out += [".PP"] + [line(ln) for ln in para.splitlines() if ln.strip()]
    out += [".SH SEE ALSO", ".BR dnsrouter (8),", ".BR dnsrouter-split (1)"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "README.md")
