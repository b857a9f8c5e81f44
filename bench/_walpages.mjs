// Runs N one-time no-op tasks at concurrency C under 'full', with a reader pinning the WAL,
// then tallies WAL frames per commit and by b-tree.
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { OneTimeTrigger, Scheduler } from 'background-tasks';
const [N = '500', C = '1'] = process.argv.slice(2);
const file = '/tmp/walp.db';
for (const f of [file, file + '-wal', file + '-shm']) fs.rmSync(f, { force: true });
const logger = pino({ level: 'silent' });
const s = new Scheduler({ database: file, durability: 'full', maxRunningTasks: +C, logger });
s.register('noop', async () => {});
await s.addTasks(Array.from({ length: +N }, () => ({ name: 'noop', triggers: [new OneTimeTrigger({ delay: 0 })] })));
const reader = new Database(file);
const startMap = new Map(reader.prepare('SELECT pageno, name FROM dbstat').all().map((r) => [r.pageno, r.name]));
const ps = reader.pragma('page_size',{simple:true}); const per = Math.floor(ps/5);
const isPtrmap = (pg) => pg >= 2 && (pg - 2) % (per + 1) === 0;

reader.pragma('wal_checkpoint(TRUNCATE)');
const pin = reader.prepare('SELECT count(*) FROM tasks');
reader.exec('BEGIN'); pin.get();
let done = 0;
const finished = new Promise((r) => s.on('execution:finished', () => ++done === +N && r()));
await s.start(); await finished; await s.stop();
const wal = fs.readFileSync(file + '-wal');
const pageSize = wal.readUInt32BE(8);
const pages = [];
let commits = 0; let frames = 0; const perCommit = [];
let cur = 0;
for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
  const pg = wal.readUInt32BE(off); const commit = wal.readUInt32BE(off + 4);
  pages.push(pg); frames++; cur++;
  if (commit !== 0) { commits++; perCommit.push(cur); cur = 0; }
}
reader.exec('COMMIT');
const map = new Map(reader.prepare('SELECT pageno, name FROM dbstat').all().map((r) => [r.pageno, r.name]));
const byName = new Map();
for (const pg of pages) { const n = pg === 1 ? 'page1' : isPtrmap(pg) ? 'ptrmap' : startMap.get(pg) ?? map.get(pg) ?? 'free'; byName.set(n, (byName.get(n) ?? 0) + 1); }
perCommit.sort((a, b) => a - b);
console.log({ commits, frames, perCommitMedian: perCommit[perCommit.length >> 1], mean: (frames / commits).toFixed(1) });
for (const [n, c] of [...byName].sort((a, b) => b[1] - a[1])) console.log((c / commits).toFixed(2).padStart(7), n);
await s.close();
