#!/usr/bin/python3
"""A filesystem that forgets what was not synced, for power-cut tests.

    forgetful_fs.py DURABLE_DIR MOUNTPOINT [--allow-other]

Files live twice under the work folder: DURABLE_DIR holds what a power cut keeps,
DURABLE_DIR.current what programs see through MOUNTPOINT. A write lands in the
current copy and in a log of pending writes; fsync of a file replays its pending
writes onto the durable copy. A cut (a command on stdin) drops the pending writes,
or keeps a random prefix of them, or a random subset of their 4 KiB pages (torn
writes), then makes the current copies equal to the durable ones.

Directory operations (create, unlink, rename, mkdir) are durable at once: the layer
tests the data a file holds, not its name. It counts directory syncs, to show
whether a program asks for them. A write through a file opened (not created)
O_SYNC or O_DSYNC is durable when it returns.

With --allow-other (root only) other users may use the mount: a PostgreSQL server
runs as its own user. Files and folders belong to whoever made them, across cuts.

Commands on stdin, one JSON object per line; answers on stdout, one per line:
  {"cmd": "cut", "keep": "none" | "prefix" | "pages", "seed": N}
      -> {"ok": true, "pending": writes pending, "kept": writes or pages kept}
  {"cmd": "arm", "op": "fsync" | "write" | "truncate", "match": "-wal$", "after": N}
      The (N+1)th such operation on a file whose path matches the regular
      expression blocks and
      announces {"event": "armed", "op", "path"}: the caller kills the program,
      then cuts; the blocked operation then fails.
  {"cmd": "stats"} -> {"ok": true, "fsync": {path: n}, "fsyncdir": n, ...}
The first line on stdout is {"event": "mounted"}; unmounting (umount) ends it.
For debugging: BT_POWER_CUT_TRACE=1 echoes each command on stderr, and SIGUSR1
prints every thread's stack there.
"""
import errno
import faulthandler
import signal
import json
import os
import random
import re
import shutil
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations, fuse_get_context

PAGE = 4096


class Forgetful(Operations):
    use_ns = True

    def __init__(self, durable, current):
        self.durable = durable
        self.current = current
        self.mutex = threading.RLock()
        # Per file, in issue order: (sequence, ('w', offset, bytes) | ('t', size)). The
        # sequence orders them across files, for a cut that keeps a prefix.
        self.pending = {}
        self.sequence = 0
        self.fsyncs = {}
        self.fsyncdirs = 0
        self.writes = 0
        self.armed = None  # {'op', 'match': compiled pattern, 'after', 'release': Event}
        self.blocked = []  # the release of each operation held at its armed point
        # Files opened before a cut belong to a process that died with the power: what
        # they still send (a dying process's flushes) reaches no disk.
        self.generation = 0
        self.opened_in = {}
        self.synchronous = set()  # handles opened O_SYNC or O_DSYNC

    # Paths

    def cur(self, path):
        return os.path.join(self.current, path.lstrip('/'))

    def dur(self, path):
        return os.path.join(self.durable, path.lstrip('/'))

    # The arming point: the operation blocks until the caller has cut.

    def check_armed(self, op, path):
        armed = self.armed
        if armed is None or armed['op'] != op or not armed['match'].search(path):
            return
        if armed['after'] > 0:
            armed['after'] -= 1
            return
        self.armed = None
        self.blocked.append(armed['release'])
        say({'event': 'armed', 'op': op, 'path': path})
        armed['release'].wait()
        raise FuseOSError(errno.EIO)

    # What reaches the disk

    def apply(self, path, entry):
        target = self.dur(path)
        if not os.path.exists(target):
            return
        if entry[0] == 'w':
            fd = os.open(target, os.O_WRONLY)
            try:
                os.pwrite(fd, entry[2], entry[1])
            finally:
                os.close(fd)
        else:
            os.truncate(target, entry[1])

    def sync_file(self, path):
        with self.mutex:
            for _, entry in self.pending.pop(path, []):
                self.apply(path, entry)

    def remember(self, path, entry):
        self.sequence += 1
        self.pending.setdefault(path, []).append((self.sequence, entry))

    def cut(self, keep, seed):
        rng = random.Random(seed)
        with self.mutex:
            pending = sorted(((n, path, entry) for path, entries in self.pending.items() for n, entry in entries),
                             key=lambda item: item[0])
            pending = [(path, entry) for _, path, entry in pending]
            self.pending = {}
            kept = 0
            if keep == 'prefix':
                n = rng.randint(0, len(pending))
                for path, entry in pending[:n]:
                    self.apply(path, entry)
                kept = n
            elif keep == 'pages':
                for path, entry in pending:
                    if entry[0] == 't':
                        if rng.random() < 0.5:
                            self.apply(path, entry)
                            kept += 1
                        continue
                    offset, data = entry[1], entry[2]
                    start = 0
                    while start < len(data):
                        end = min(len(data), (offset + start) // PAGE * PAGE + PAGE - offset)
                        if rng.random() < 0.5:
                            self.apply(path, ('w', offset + start, data[start:end]))
                            kept += 1
                        start = end
            # What programs see from now on is what the disk kept. Names are the same on
            # both sides (directory operations are durable at once), and a file without
            # pending writes is too: only the others differ.
            for path in {path for path, _ in pending}:
                if os.path.exists(self.dur(path)):
                    shutil.copyfile(self.dur(path), self.cur(path))
            self.generation += 1
            self.armed = None
            for release in self.blocked:
                release.set()
            self.blocked = []
            return len(pending), kept

    # Operations

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self.cur(path))
        except FileNotFoundError:
            raise FuseOSError(errno.ENOENT)
        keys = ('st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_size', 'st_atime_ns', 'st_mtime_ns', 'st_ctime_ns')
        attrs = {k: getattr(st, k) for k in keys}
        attrs['st_atime'] = attrs.pop('st_atime_ns')
        attrs['st_mtime'] = attrs.pop('st_mtime_ns')
        attrs['st_ctime'] = attrs.pop('st_ctime_ns')
        return attrs

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self.cur(path))

    def access(self, path, amode):
        if not os.access(self.cur(path), amode):
            raise FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = os.statvfs(self.current)
        keys = ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag',
                'f_frsize', 'f_namemax')
        return {k: getattr(st, k) for k in keys}

    def chmod(self, path, mode):
        os.chmod(self.cur(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self.cur(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self.cur(path), ns=times)

    def owned(self, *paths):
        uid, gid, _ = fuse_get_context()
        for path in paths:
            os.chown(path, uid, gid)

    def mkdir(self, path, mode):
        with self.mutex:
            os.mkdir(self.cur(path), mode)
            os.mkdir(self.dur(path), mode)
            self.owned(self.cur(path), self.dur(path))

    def rmdir(self, path):
        with self.mutex:
            os.rmdir(self.cur(path))
            os.rmdir(self.dur(path))

    def create(self, path, mode, fi=None):
        with self.mutex:
            open(self.dur(path), 'ab').close()
            fh = os.open(self.cur(path), os.O_RDWR | os.O_CREAT, mode)
            self.owned(self.cur(path), self.dur(path))
            self.opened(fh, 0)  # fusepy does not pass create's flags
            return fh

    def open(self, path, flags):
        with self.mutex:
            fh = os.open(self.cur(path), flags & ~(os.O_CREAT | os.O_EXCL | os.O_APPEND))
            self.opened(fh, flags)
            return fh

    def opened(self, fh, flags):
        self.opened_in[fh] = self.generation
        if flags & (os.O_SYNC | os.O_DSYNC):
            self.synchronous.add(fh)
        else:
            self.synchronous.discard(fh)

    def stale(self, fh):
        return fh is not None and self.opened_in.get(fh, self.generation) != self.generation

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self.check_armed('write', path)
        with self.mutex:
            if self.stale(fh):
                return len(data)
            self.writes += 1
            written = os.pwrite(fh, data, offset)
            entry = ('w', offset, bytes(data[:written]))
            if fh in self.synchronous:
                self.apply(path, entry)
            else:
                self.remember(path, entry)
            return written

    def truncate(self, path, length, fh=None):
        self.check_armed('truncate', path)
        with self.mutex:
            if self.stale(fh):
                return
            os.truncate(self.cur(path), length)
            self.remember(path, ('t', length))

    def fsync(self, path, datasync, fh):
        self.check_armed('fsync', path)
        with self.mutex:
            if self.stale(fh):
                raise FuseOSError(errno.EIO)
            self.fsyncs[path] = self.fsyncs.get(path, 0) + 1
            self.sync_file(path)

    def fsyncdir(self, path, datasync, fh):
        with self.mutex:
            self.fsyncdirs += 1

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        with self.mutex:
            self.opened_in.pop(fh, None)
            self.synchronous.discard(fh)
            os.close(fh)

    def unlink(self, path):
        with self.mutex:
            os.unlink(self.cur(path))
            if os.path.exists(self.dur(path)):
                os.unlink(self.dur(path))
            self.pending.pop(path, None)

    def rename(self, old, new):
        with self.mutex:
            os.rename(self.cur(old), self.cur(new))
            if os.path.exists(self.dur(old)):
                os.rename(self.dur(old), self.dur(new))
            # What was pending for the file it replaces is gone with that file.
            self.pending.pop(new, None)
            if old in self.pending:
                self.pending[new] = self.pending.pop(old)


def mirror(source, target):
    """Copies a tree with its modes and owners (shutil's copy keeps no owner)."""
    shutil.copytree(source, target, symlinks=True)
    shutil.copystat(source, target)
    for folder, names, files in os.walk(source):
        for name in [''] + names + files:
            st = os.lstat(os.path.join(folder, name))
            os.lchown(os.path.join(target, os.path.relpath(os.path.join(folder, name), source)), st.st_uid, st.st_gid)


def say(message):
    with say.lock:
        sys.stdout.write(json.dumps(message) + '\n')
        sys.stdout.flush()


say.lock = threading.Lock()


def commands(fs):
    for line in iter(sys.stdin.readline, ''):
        if os.environ.get('BT_POWER_CUT_TRACE'):
            sys.stderr.write(f'forgetful_fs: {line}')
        if not line.strip():
            continue
        command = json.loads(line)
        name = command.get('cmd')
        if name == 'cut':
            pending, kept = fs.cut(command.get('keep', 'none'), command.get('seed', 0))
            say({'ok': True, 'pending': pending, 'kept': kept})
        elif name == 'arm':
            fs.armed = {'op': command['op'], 'match': re.compile(command.get('match', '')),
                        'after': command.get('after', 0), 'release': threading.Event()}
            say({'ok': True})
        elif name == 'stats':
            with fs.mutex:
                say({'ok': True, 'fsync': fs.fsyncs, 'fsyncdir': fs.fsyncdirs, 'writes': fs.writes,
                     'pending': sum(len(entries) for entries in fs.pending.values())})
        else:
            say({'ok': False, 'error': f'unknown command {name!r}'})


def main():
    faulthandler.register(signal.SIGUSR1)
    durable, mountpoint = sys.argv[1], sys.argv[2]
    allow_other = '--allow-other' in sys.argv[3:]
    current = durable.rstrip('/') + '.current'
    os.makedirs(durable, exist_ok=True)
    if os.path.exists(current):
        shutil.rmtree(current)
    mirror(durable, current)
    fs = Forgetful(durable, current)
    threading.Thread(target=commands, args=(fs,), daemon=True).start()

    def mounted():
        # init runs in the FUSE loop once the kernel has the mount.
        say({'event': 'mounted'})

    fs.init = lambda path: mounted()
    # No kernel caching of names or sizes: after a cut the files change beneath the kernel.
    FUSE(fs, mountpoint, foreground=True, nothreads=False, attr_timeout=0, entry_timeout=0,
         negative_timeout=0, fsname='forgetful', allow_other=allow_other)


if __name__ == '__main__':
    main()
