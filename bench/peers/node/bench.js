// The peers workloads (bench/peers) on SQLite3MultipleCiphers through its
// Node binding, better-sqlite3-multiple-ciphers: plaintext, cipher=sqlcipher
// and cipher=chacha20, alternating in rounds; medians and ratios to the
// plaintext run of the same round. run.sh installs the binding and runs this.
//
// Every database runs in WAL mode with synchronous=FULL, one commit per
// appended event, the same events table as the store. better-sqlite3 is
// synchronous, so the concurrent callers are worker threads, each with its
// own connection (as database/sql's pool in the Go peers).
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Database = require('better-sqlite3-multiple-ciphers');

const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def);
const cfg = {
  rounds: num('ROUNDS', 5),
  append1: num('APPEND1', 1000),
  appendN: num('APPENDN', 4000),
  callers: num('CALLERS', 16),
  sessions: num('SESSIONS', 20),
  perSession: num('PER_SESSION', 1000),
  sessionReads: num('SESSION_READS', 100),
  pointReads: num('POINT_READS', 5000),
};
const BUSY_MS = 30000;
const HEXKEY = '7d0f1e2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100';
const modes = ['plain', 'sqlcipher', 'chacha20'];

const SCHEMA = `CREATE TABLE IF NOT EXISTS events (
  session TEXT NOT NULL, id INTEGER NOT NULL, turn INTEGER NOT NULL, kind TEXT NOT NULL,
  ts INTEGER NOT NULL, format INTEGER NOT NULL, size INTEGER NOT NULL, payload BLOB,
  PRIMARY KEY (session, id)) WITHOUT ROWID`;
const INSERT = 'INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, 0, ?, ?)';

function open(file, mode) {
  const db = new Database(file);
  if (mode !== 'plain') {
    db.pragma(`cipher='${mode}'`);
    if (mode === 'sqlcipher') db.pragma('legacy=4');
    db.pragma(`hexkey='${HEXKEY}'`);
  }
  db.pragma(`busy_timeout=${BUSY_MS}`);
  db.pragma('journal_mode=WAL');
  db.pragma('synchronous=FULL');
  const jm = db.pragma('journal_mode', { simple: true });
  const sync = db.pragma('synchronous', { simple: true });
  if (jm !== 'wal' || sync !== 2) throw new Error(`${mode}: journal_mode=${jm} synchronous=${sync}, want wal and 2`);
  db.exec(SCHEMA);
  return db;
}

// A deterministic PRNG (mulberry32) and the Go peers' kind of payloads:
// agent turns as JSON of 300 to 1,000 bytes.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = `the a parser test file function error return value build run go module package import fix failing
case handle trailing comma regression suite check output input request response model tool call result read write
edit path line column struct field method interface slice map channel context deadline timeout retry cache index
query table row page commit transaction lock`.split(/\s+/);
const PATHS = ['internal/parser/parser.go', 'internal/parser/parser_test.go', 'cmd/app/main.go', 'pkg/store/store.go', 'README.md'];
const KINDS = ['assistant_message', 'tool_call', 'tool_result', 'user_message'];
function text(r, n) {
  const w = [];
  let len = 0;
  while (len < n) { const x = WORDS[Math.floor(r() * WORDS.length)]; w.push(x); len += x.length + 1; }
  return w.join(' ');
}
function events(seed, session, n) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 20 === 19 ? KINDS[3] : KINDS[i % 3];
    const size = 300 + Math.floor(r() * 701);
    let v;
    if (kind === 'assistant_message') v = { role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: text(r, size - 110) }] };
    else if (kind === 'tool_call') v = { call_id: 'toolu_' + Math.floor(r() * 2 ** 52).toString(16), tool: 'read', args: { path: PATHS[Math.floor(r() * PATHS.length)], offset: Math.floor(r() * 400), limit: 80, note: text(r, size - 150) } };
    else if (kind === 'tool_result') v = { call_id: 'toolu_' + Math.floor(r() * 2 ** 52).toString(16), status: 'ok', result: 'func handle(ctx context.Context) error {\n\t' + text(r, size - 130) + '\n}\n' };
    else v = { role: 'user', text: text(r, size - 40) };
    out.push({ session, turn: Math.floor(i / 3), kind, ts: 1767603600000000000n + BigInt(i) * 1000000000n, payload: Buffer.from(JSON.stringify(v)) });
  }
  return out;
}
const insertArgs = (e, id) => [e.session, id, e.turn, e.kind, e.ts, e.payload.length, e.payload];

function cpu() { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }

// Worker: appends its events to file, one commit each, starting at IDs
// base+1, after the main thread says go.
if (!isMainThread) {
  const { file, mode, base } = workerData;
  const evs = workerData.evs.map((e) => ({ ...e, payload: Buffer.from(e.payload) }));
  const db = open(file, mode);
  const ins = db.prepare(INSERT);
  parentPort.once('message', () => {
    let err = null;
    try { evs.forEach((e, i) => ins.run(...insertArgs(e, base + i + 1))); } catch (e) { err = String(e); }
    db.close();
    parentPort.postMessage({ err, cpu: cpu() });
  });
  parentPort.postMessage('ready');
  return;
}

function tmpdir(prefix) { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

function append1(mode, round) {
  const dir = tmpdir(`node-${mode}-a1-`);
  const db = open(path.join(dir, 'db'), mode);
  const ins = db.prepare(INSERT);
  const evs = events(1000 + round, 'append1', cfg.append1);
  const c0 = cpu(), t0 = process.hrtime.bigint();
  evs.forEach((e, i) => ins.run(...insertArgs(e, i + 1)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9, c = cpu() - c0;
  db.close();
  fs.rmSync(dir, { recursive: true });
  return { ops: evs.length, secs, cpu: c };
}

async function appendN(mode, round) {
  const dir = tmpdir(`node-${mode}-aN-`);
  const file = path.join(dir, 'db');
  open(file, mode).close();
  const per = Math.ceil(cfg.appendN / cfg.callers);
  const workers = [];
  for (let k = 0; k < cfg.callers; k++) {
    const evs = events(2000 + round * 100 + k, `appendN-${k}`, per).map((e) => ({ ...e, payload: new Uint8Array(e.payload) }));
    const w = new Worker(__filename, { workerData: { file, mode, evs, base: k * per } });
    workers.push(new Promise((resolve, reject) => {
      w.on('error', reject);
      w.on('message', (m) => { if (m === 'ready') resolve(w); });
    }));
  }
  const ws = await Promise.all(workers);
  const c0 = cpu(), t0 = process.hrtime.bigint();
  const done = ws.map((w) => new Promise((resolve) => w.once('message', resolve)));
  ws.forEach((w) => w.postMessage('go'));
  const res = await Promise.all(done);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9, c = cpu() - c0;
  await Promise.all(ws.map((w) => w.terminate()));
  for (const r of res) if (r.err) throw new Error(`${mode} appendN: ${r.err}`);
  fs.rmSync(dir, { recursive: true });
  return { ops: per * cfg.callers, secs, cpu: c };
}

// The read database of a mode: sessions interleaved in runs of 10 events,
// loaded in transactions of 1,000.
function readDB(mode) {
  const dir = tmpdir(`node-${mode}-read-`);
  const db = open(path.join(dir, 'db'), mode);
  const per = [];
  for (let s = 0; s < cfg.sessions; s++) per.push(events(3000 + s, `read-${String(s).padStart(3, '0')}`, cfg.perSession));
  const all = [];
  for (let j = 0; j < cfg.perSession; j += 10) for (const p of per) all.push(...p.slice(j, j + 10));
  const ins = db.prepare(INSERT);
  const load = db.transaction((evs, base) => evs.forEach((e, i) => ins.run(...insertArgs(e, base + i + 1))));
  for (let i = 0; i < all.length; i += 1000) load(all.slice(i, i + 1000), i);
  const ids = per.map((p) => db.prepare('SELECT id FROM events WHERE session = ? ORDER BY id').pluck().all(p[0].session));
  return { dir, db, ids, sess: db.prepare('SELECT id, turn, kind, ts, payload FROM events WHERE session = ? AND id > ? ORDER BY id LIMIT ?').safeIntegers(true),
    point: db.prepare('SELECT id, turn, kind, ts, payload FROM events WHERE session = ? AND id = ?').safeIntegers(true), r: rng(7) };
}

function sessionReads(rd) {
  const c0 = cpu(), t0 = process.hrtime.bigint();
  let n = 0;
  for (let k = 0; k < cfg.sessionReads; k++) {
    const s = Math.floor(rd.r() * cfg.sessions);
    const rows = rd.sess.all(`read-${String(s).padStart(3, '0')}`, 0, cfg.perSession);
    if (rows.length !== cfg.perSession) throw new Error(`session read ${rows.length} events`);
    n += rows.length;
  }
  return { ops: n, secs: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpu() - c0 };
}

function pointReads(rd) {
  const c0 = cpu(), t0 = process.hrtime.bigint();
  for (let k = 0; k < cfg.pointReads; k++) {
    const s = Math.floor(rd.r() * cfg.sessions);
    const id = rd.ids[s][Math.floor(rd.r() * rd.ids[s].length)];
    const row = rd.point.get(`read-${String(s).padStart(3, '0')}`, id);
    if (!row || Number(row.id) !== id) throw new Error(`point read of ${id}`);
  }
  return { ops: cfg.pointReads, secs: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpu() - c0 };
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

async function main() {
  const dbs = {};
  for (const m of modes) dbs[m] = readDB(m);
  const W = ['append1', 'appendN', 'session', 'point'];
  const res = {}; // [mode][workload] = [{rate, cpuPerOp, round}]
  for (const m of modes) { res[m] = {}; for (const w of W) res[m][w] = []; }
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const w of W) {
      for (let k = 0; k < modes.length; k++) {
        const m = modes[(k + round - 1) % modes.length];
        let r;
        if (w === 'append1') r = append1(m, round);
        else if (w === 'appendN') r = await appendN(m, round);
        else if (w === 'session') r = sessionReads(dbs[m]);
        else r = pointReads(dbs[m]);
        res[m][w].push({ round, rate: r.ops / r.secs, cpu: (r.cpu / r.ops) * 1e6 });
        process.stderr.write(`round ${round} ${w.padEnd(8)} node-${m.padEnd(10)} ${(r.ops / r.secs).toFixed(0).padStart(10)}/s\n`);
      }
    }
  }
  for (const m of modes) { dbs[m].db.close(); fs.rmSync(dbs[m].dir, { recursive: true }); }
  const heads = ['append, 1 caller (events/s)', `append, ${cfg.callers} callers (events/s)`, `session read, ${cfg.perSession} events (events/s)`, 'point read (reads/s)'];
  console.log(`| peer | ${heads.join(' | ')} |`);
  console.log(`|---|${W.map(() => '---:').join('|')}|`);
  for (const m of modes) {
    const cells = W.map((w) => {
      const ratios = res[m][w].map((x, i) => x.rate / res.plain[w][i].rate);
      return `${median(res[m][w].map((x) => x.rate)).toFixed(0)} (${median(ratios).toFixed(2)}×)`;
    });
    console.log(`| node-${m} | ${cells.join(' | ')} |`);
  }
  console.log(`\nmedians of ${cfg.rounds} rounds; in parentheses the median of the per-round ratios to node-plain`);
  console.log(`\n| peer | CPU µs per op: ${W.join(' | ')} |`);
  console.log(`|---|${W.map(() => '---:').join('|')}|`);
  for (const m of modes) console.log(`| node-${m} | ${W.map((w) => median(res[m][w].map((x) => x.cpu)).toFixed(1)).join(' | ')} |`);
  const v = require('better-sqlite3-multiple-ciphers/package.json').version;
  const sv = new Database(':memory:').prepare('SELECT sqlite_version() AS v, sqlite3mc_version() AS mc').get();
  console.log(`\nbetter-sqlite3-multiple-ciphers ${v}, SQLite ${sv.v}, ${sv.mc}, Node ${process.version}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
