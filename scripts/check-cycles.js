#!/usr/bin/env node
// Fails (exit 1) on any import cycle among the TypeScript files under src/ and solver/, at two
// levels: between files, and between layers (the folders of DESIGN §7: src/spec, src/perf,
// src/plan, ..., solver; "imports point one way", so src/spec -> src/plan -> src/perf -> src/spec
// is a cycle even when no file imports itself back). It reads the relative `import/export ... from
// './x'` statements (type-only imports count too) and runs Tarjan's algorithm. It also fails when a
// file of solver/ (the solver-neutral MILP core) imports anything outside solver/.
// No dependency; `npm run check:cycles`, and part of npm test. ALLOWED lists known cycles that
// another issue owns, each with the issue that will remove it; an allowed cycle that no longer
// exists is reported too, so the list only shrinks.
'use strict';

const fs = require('fs');
const path = require('path');

// MOSAIC_CHECK_ROOT: another tree to check (the test's fixtures); the repository by default.
const ROOT = process.env.MOSAIC_CHECK_ROOT ? path.resolve(process.env.MOSAIC_CHECK_ROOT) : path.resolve(__dirname, '..');
const DIRS = ['src', 'solver'];

/** Cycles that are known and owned elsewhere: the sorted file or layer list, joined by ' '. */
const ALLOWED = new Map([]);

/** The layer of a file: src/<folder>, a top-level file of src/, or solver. */
function layerOf(rel) {
  const parts = rel.split('/');
  if (parts[0] === 'solver') return 'solver';
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : rel;
}

function listTs(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function resolveImport(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(c)) return c;
  return undefined; // a .json import or a file outside the checked folders
}

function graph() {
  const files = DIRS.flatMap((d) => (fs.existsSync(path.join(ROOT, d)) ? listTs(path.join(ROOT, d)) : []));
  const edges = new Map();
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const deps = new Set();
    for (const m of text.matchAll(re)) {
      const target = resolveImport(f, m[1] || m[2]);
      if (target) deps.add(target);
    }
    edges.set(f, [...deps]);
  }
  return edges;
}

/** Strongly connected components with more than one file (or a file importing itself). */
function cycles(edges) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) || []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (edges.get(v) || []).includes(v)) out.push(comp);
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) strong(v);
  return out;
}

/** One concrete loop through a component, for the message: a -> b -> ... -> a. */
function loopThrough(comp, edges) {
  const inComp = new Set(comp);
  const start = [...comp].sort()[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of edges.get(v) || []) {
      if (w === start) {
        const pathBack = [v];
        for (let p = prev.get(v); p; p = prev.get(p)) pathBack.push(p);
        return [...pathBack.reverse(), start];
      }
      if (inComp.has(w) && !prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return comp;
}

/** The layer graph, and for each layer edge one file edge that makes it (for messages). */
function layers(edges, rel) {
  const out = new Map();
  const example = new Map();
  for (const [f, deps] of edges) {
    const a = layerOf(rel(f));
    if (!out.has(a)) out.set(a, []);
    for (const d of deps) {
      const b = layerOf(rel(d));
      if (a === b || out.get(a).includes(b)) continue;
      out.get(a).push(b);
      example.set(`${a} ${b}`, `${rel(f)} imports ${rel(d)}`);
    }
  }
  return { out, example };
}

function main() {
  const edges = graph();
  const rel = (f) => path.relative(ROOT, f).replace(/\\/g, '/');
  const files = cycles(edges).map((comp) => ({ comp, what: 'files', name: (x) => rel(x), loop: loopThrough(comp, edges).map(rel) }));
  const layerGraph = layers(edges, rel);
  const layerCycles = cycles(layerGraph.out).map((comp) => {
    const loop = loopThrough(comp, layerGraph.out);
    const why = loop.slice(1).map((b, i) => layerGraph.example.get(`${loop[i]} ${b}`));
    return { comp, what: 'layers', name: (x) => x, loop: [...loop.slice(0, 1), ...loop.slice(1).map((b, i) => `${b} (${why[i]})`)] };
  });
  const found = [...files, ...layerCycles];
  const seen = new Set();
  let bad = 0;
  // The MILP core imports nothing from the application: solver/ files import only solver/ files.
  for (const [f, deps] of edges) {
    if (!rel(f).startsWith('solver/')) continue;
    for (const d of deps) {
      if (rel(d).startsWith('solver/')) continue;
      process.stderr.write(`check-cycles: ${rel(f)} imports ${rel(d)}; the solver-neutral MILP core (solver/) imports nothing from the application\n`);
      bad++;
    }
  }
  for (const { comp, what, name, loop: steps } of found) {
    const key = comp.map(name).sort().join(' ');
    seen.add(key);
    const loop = steps.join(' -> ');
    if (ALLOWED.has(key)) {
      process.stdout.write(`check-cycles: allowed (${ALLOWED.get(key)}): ${loop}\n`);
      continue;
    }
    process.stderr.write(`check-cycles: import cycle among ${comp.length} ${what} (${comp.map(name).sort().join(", ")}), for example ${loop}\n`);
    bad++;
  }
  for (const key of ALLOWED.keys()) {
    if (!seen.has(key)) {
      process.stderr.write(`check-cycles: the allowed cycle [${key}] is gone; remove it from ALLOWED in scripts/check-cycles.js\n`);
      bad++;
    }
  }
  if (bad > 0) process.exit(1);
  process.stdout.write(`check-cycles: no import cycle among ${edges.size} files and ${layerGraph.out.size} layers under ${DIRS.join(', ')}\n`);
}

main();
