#!/usr/bin/python3
"""layers.py - the structure of the C sources, as a newcomer should find it.

Prints, from the source tree and the objects of a build:
  - the includes between directories (bridge, config, connectors/*), with
    those that point up the layers marked: config (YAML, options,
    interpolation, secrets) < bridge (the core) < connectors (helpers
    shared by families) < connectors/<family> < connectors/registry.c (the
    one file that names every connector); families never include each
    other;
  - the circles of files that call each other, found from the objects'
    symbols (`nm`: what each object defines and what it uses);
  - file and function sizes.
`--check` exits 1 when an include points up or a circle exists.

Usage: tests/structure/layers.py [--check] [BUILD_DIR]   (default: build)
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Lower layers first: a file may include its own layer's headers and lower ones.
LAYERS = ["config", "bridge", "connectors"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    out = []
    for d in LAYERS:
        for root, _, files in os.walk(os.path.join(TOP, d)):
            out += [os.path.relpath(os.path.join(root, f), TOP)
                    for f in files if f.endswith((".c", ".h"))]
    return sorted(out)


def group(path):
    """bridge, config, connectors, connectors/<family> or connectors/registry."""
    parts = path.split("/")
    if path == "connectors/registry.c":
        return "connectors/registry"
    return "/".join(parts[:2]) if parts[0] == "connectors" and len(parts) > 2 else parts[0]


def rank(g):
    return {"config": 0, "bridge": 1, "connectors": 2, "connectors/registry": 4}.get(g, 3)


def points_up(a, b):
    return rank(b) > rank(a) or (rank(a) == rank(b) == 3)


def resolve(src, name):
    for base in (os.path.dirname(src), ""):
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.exists(os.path.join(TOP, cand)):
            return cand
    return None


def include_edges(files):
    edges = defaultdict(set)
    for f in files:
        with open(os.path.join(TOP, f), encoding="utf-8", errors="replace") as fh:
            for name in INCLUDE.findall(fh.read()):
                target = resolve(f, name)
                if target and group(target) != group(f):
                    edges[(group(f), group(target))].add(f"{f} -> {target}")
    return edges


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
    return defined, used


def call_graph(build):
    objs = {}
    objdir = os.path.join(TOP, build, "obj")
    for root, _, files in os.walk(objdir):
        for f in files:
            if f.endswith(".o"):
                src = os.path.relpath(os.path.join(root, f), objdir)[:-2] + ".c"
                objs[src] = symbols(os.path.join(root, f))
    owner = {}
    for src, (defined, _) in objs.items():
        for s in defined:
            owner[s] = src
    graph = defaultdict(set)
    for src, (_, used) in objs.items():
        for s in used:
            if s in owner and owner[s] != src:
                graph[src].add(owner[s])
    return objs, graph


def circles(nodes, graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


FUNC = re.compile(r'^[A-Za-z_][^;{}()]*\b([A-Za-z_]\w*)\s*\([^;]*\)\s*\{\s*$', re.M)


def function_sizes(files):
    sizes = []
    for f in files:
        if not f.endswith(".c"):
            continue
        lines = open(os.path.join(TOP, f), encoding="utf-8", errors="replace").read().split("\n")
        start = name = None
        for i, line in enumerate(lines):
            if start is None:
                m = re.match(r'^(?:static\s+|inline\s+)*[A-Za-z_][\w\s\*]*?\b([A-Za-z_]\w*)\s*\(', line)
                if m and not line.rstrip().endswith(";") and not line.startswith((" ", "\t", "#")):
                    j = i
                    while j < len(lines) and "{" not in lines[j] and ";" not in lines[j]:
                        j += 1
                    if j < len(lines) and lines[j].startswith("{"):
                        start, name = i, m.group(1)
            elif line.startswith("}"):
                sizes.append((i - start + 1, f"{f}:{name}"))
                start = None
    return sorted(sizes, reverse=True)


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv[1:]
    build = args[0] if args else "build"
    files = sources()
    bad = 0

    print("includes between directories (files):")
    for (a, b), why in sorted(include_edges(files).items()):
        up = points_up(a, b)
        bad += up
        print(f"  {a:20} -> {b:20} {len(why):3}{'   POINTS UP: ' + min(why) if up else ''}")

    objs, graph = call_graph(build)
    found = circles(objs.keys(), graph)
    print(f"circles of files calling each other: {len(found)}")
    for comp in found:
        print("  " + ", ".join(comp))
    bad += len(found)

    sizes = [(os.path.getsize(os.path.join(TOP, f)), f) for f in files]
    lines = sorted(((sum(1 for _ in open(os.path.join(TOP, f))), f) for f in files), reverse=True)
    funcs = function_sizes(files)
    print(f"files: {len(files)}, lines: {sum(n for n, _ in lines)}; largest: "
          + ", ".join(f"{f} {n}" for n, f in lines[:5]))
    print(f"functions: {len(funcs)}, over 60 lines: {sum(1 for n, _ in funcs if n > 60)}; largest: "
          + ", ".join(f"{f} {n}" for n, f in funcs[:5]))
    del sizes
    if check and bad:
        print(f"layers: {bad} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
