#!/usr/bin/env python3
"""
import_graph: fail when the dependencies between src/ files go round in a circle.

Two graphs are checked, and each must have no cycle:

  modules   a module is a file name without .c/.h; a file that includes foo_int.h
            (foo's private header) is part of module foo. An edge A -> B is an
            #include "B.h" in a file of A.
  files     an edge a.c -> b.c is a call to (or any use of) a function defined,
            not static, in b.c. It catches what the includes cannot: a private
            header declaring a function of the file that includes it, so that two
            files of one module call each other (queue.c <-> queue_load.c once).

STYLE.md: "Dependencies point down the pipeline ... no two files import each other."
Usage: tests/import_graph.py [SRCDIR]; exit 0 when both graphs have no cycle, 1 with
each cycle listed. Python's standard library only.
"""
import os
import re
import sys
import tempfile

# Pairs allowed for now, each with the reason; a cycle made only of these passes.
# None today: every dependency points one way.
ALLOWED = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
# A definition: the name at the start of a line, then "(", after a line ending the type.
DEFINITION = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)\(', re.M)
IDENT = re.compile(r'\b([A-Za-z_][A-Za-z0-9_]*)\b')


def strip_comments(text):
    """The text without /* */ and // comments and string literals."""
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def module_of(stem, text):
    """The module a file belongs to: foo_int.h and the files including it are foo."""
    if stem.endswith("_int"):
        return stem[:-4]
    for inc in INCLUDE.findall(text):
        if inc.endswith("_int"):
            return inc[:-4]
    return stem


def cycles(graph, allowed):
    """Every elementary cycle found by a depth-first search (one per back edge)."""
    found, seen = [], set()
    state = {}

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if (node, nxt) in allowed or (nxt, node) in allowed:
                continue
            if state.get(nxt) == 1:
                cyc = path[path.index(nxt):]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    found.append(cyc + [nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def check(src, allowed=ALLOWED, quiet=False):
    """The cycles among src's files, as lines; [] when there are none."""
    texts = {}
    for name in sorted(os.listdir(src)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src, name), encoding="utf-8", errors="replace") as f:
                texts[name] = f.read()

    module = {n: module_of(n[:-2], t) for n, t in texts.items()}
    stems = {n[:-2] for n in texts}
    mods = {}
    for name, text in texts.items():
        a = module[name]
        for inc in INCLUDE.findall(text):
            if inc not in stems:
                continue
            b = module.get(inc + ".h", inc)
            if b != a:
                mods.setdefault(a, set()).add(b)

    definer = {}
    code = {n: strip_comments(t) for n, t in texts.items() if n.endswith(".c")}
    for name, text in code.items():
        for m in DEFINITION.finditer(text):
            line_start = text.rfind("\n", 0, m.start() - 1)
            prev = text[line_start + 1:m.start()]
            # A definition's type is on the line before: "int\nname(...)"; a line
            # starting "name(" after a ";" or "}" is a statement (_Static_assert).
            prev = prev.strip()
            if "static" in prev or not re.search(r"[A-Za-z0-9_*]$", prev) or \
                    prev.startswith("#"):
                continue
            definer.setdefault(m.group(1), name)
    calls = {}
    for name, text in code.items():
        for ident in set(IDENT.findall(text)):
            b = definer.get(ident)
            if b is not None and b != name:
                calls.setdefault(name, set()).add(b)

    out = ["modules in a cycle: " + " -> ".join(c) for c in cycles(mods, allowed)]
    out += ["files calling each other: " + " -> ".join(c) for c in cycles(calls, allowed)]
    if not out and not quiet:
        print("import_graph: %d modules, %d .c files, no cycles" %
              (len(set(module.values())), len(code)))
    return out


# The checker's own table: files -> the cycles it must report (so that it can fail).
SELFTEST = [
    ({"a.h": "", "a.c": '#include "a.h"\n#include "b.h"\n',
      "b.h": '#include "a.h"\n', "b.c": '#include "b.h"\n'}, ["a -> b -> a"]),
    ({"q_int.h": "void\nq_load_stop(int);\n",
      "q.c": '#include "q_int.h"\nvoid\nq_close(int x)\n{\n\tq_load_stop(x);\n}\n',
      "q_load.c": '#include "q_int.h"\nvoid\nq_load_stop(int x)\n{\n\tq_close(x);\n}\n'},
     ["q.c -> q_load.c -> q.c"]),
    ({"lo.h": "", "lo.c": '#include "lo.h"\nint\nlo_f(void)\n{\n\treturn 0;\n}\n',
      "hi.c": '#include "lo.h"\n/* hi_g: hi.c <-> lo.c in a comment is no cycle */\n'
              'int\nhi_g(void)\n{\n\t_Static_assert(1, "x");\n\treturn lo_f();\n}\n'},
     []),
]


def selftest():
    """1 when the checker finds what SELFTEST says, else 0 after saying what."""
    for files, want in SELFTEST:
        with tempfile.TemporaryDirectory() as d:
            for name, text in files.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            got = check(d, set(), quiet=True)
        if len(got) != len(want) or any(w not in g for w, g in zip(want, got)):
            print("import_graph: self-test: %s: want %s, got %s" % (sorted(files), want, got))
            return 0
    return 1


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src")
    if not selftest():
        return 1
    bad = check(src)
    for line in bad:
        print("import_graph: " + line)
    if bad:
        print("import_graph: %d cycle(s); dependencies point down (ARCHITECTURE.md)" %
              len(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
