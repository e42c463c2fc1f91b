# SPDX-License-Identifier: MIT
# tests/integration/test_docs.py -- the documentation keeps up with the parser: every key the
# configuration parser accepts (its keyword tables in src/conf/) is in dnsrouter.yaml(5) (made
# from the README's reference) and in examples/dnsrouter.yaml, which `dnsrouter -t` accepts;
# the man pages render without a groff warning.

import os
import re
import subprocess

import pytest

import dnsr

REPO = dnsr.REPO
YAML5 = REPO / "build" / "dnsrouter.yaml.5"
EXAMPLE = REPO / "examples" / "dnsrouter.yaml"


def parser_keys():
    """Every key of every `static const struct keyword NAME[] = { ... };` table."""
    keys = set()
    for path in sorted((REPO / "src" / "conf").glob("*.c")):
        text = path.read_text()
        for table in re.findall(r"static const struct keyword \w+\[\] = \{(.*?)\n\};", text,
                                re.S):
            keys.update(re.findall(r'\{"([a-z0-9-]+)",', table))
    assert len(keys) > 60, sorted(keys)     # the tables were found
    return sorted(keys)


def word_in(key, text):
    return re.search(r"(?<![a-z0-9-])%s(?![a-z0-9-])" % re.escape(key), text) is not None


def test_every_key_in_the_man_page():
    src = YAML5.read_text()
    keys_section = src[src.index(".SH KEYS"):src.index(".SH NOTES")].replace("\\-", "-")
    bold = " ".join(re.findall(r"\\fB(.*?)\\fR", keys_section))
    missing = [k for k in parser_keys() if not word_in(k, bold)]
    assert not missing, "keys the parser takes that dnsrouter.yaml(5) does not name: %s" % missing


def test_every_key_in_the_example():
    text = EXAMPLE.read_text()
    missing = [k for k in parser_keys()
               if not re.search(r"(^|[\s{,#-])%s:" % re.escape(k), text, re.M)]
    assert not missing, "keys missing from examples/dnsrouter.yaml: %s" % missing
    out = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(EXAMPLE)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("page", [YAML5, REPO / "doc" / "dnsrouter.8",
                                  REPO / "doc" / "dnsrouter-split.1"],
                         ids=lambda p: p.name)
def test_man_page_renders_cleanly(page):
    out = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, MANWIDTH="80"))
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    assert len(out.stdout.splitlines()) > 20
