"""Writes part of the sharded tree test's tree, and scans a tree for the comparison.

write: stdin is one JSON object {"roots": [ROOT, ...], "dirs": [[path, mode]], "files":
[[path, mode, size, seed]], "symlinks": [[path, target]], "hardLinks": [[existing, path]]}.
Every item is made under each root in turn (the mount, then the local reference copy), in this
order: directories (parents first), files, symlinks, hard links. A file's bytes come from its
seed (random.Random(seed).randbytes(size)), so both copies get the same ones. Modes are exact
(umask 0). Progress goes to stderr; at the end one JSON line with the counts goes to stdout. The
first failure stops it: exit 1 with {"error": ..., "path": ...} on stdout.

scan ROOT: one JSON line per entry below ROOT, sorted by path:
[relative path, type ("d", "f", "l", "o"), mode, size, nlink, md5 of a file / target of a
symlink / "" for a directory, inode]. Files are read by several threads at once.
"""

import errno
import hashlib
import json
import os
import random
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor

READ_THREADS = 16
PROGRESS_EVERY = 2000


def content(seed, size):
    return random.Random(seed).randbytes(size)


def write_file(path, mode, data):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def write(plan):
    os.umask(0)
    roots = plan["roots"]
    started = time.monotonic()
    done = 0
    total = len(plan["dirs"]) + len(plan["files"]) + len(plan["symlinks"]) + len(plan["hardLinks"])

    def step(path, action):
        """Runs action(root) under every root; `path` names the item in a failure."""
        nonlocal done
        for root in roots:
            try:
                action(root)
            except OSError as error:
                name = errno.errorcode.get(error.errno, "E%d" % error.errno)
                json.dump({"error": "%s: %s" % (name, error.strerror), "path": os.path.join(root, path)}, sys.stdout)
                sys.stdout.write("\n")
                sys.exit(1)
        done += 1
        if done % PROGRESS_EVERY == 0:
            sys.stderr.write("tree_writer %d: %d/%d items, %.1f s\n" % (os.getpid(), done, total, time.monotonic() - started))
            sys.stderr.flush()

    for path, mode in plan["dirs"]:
        step(path, lambda root, p=path, m=mode: os.mkdir(os.path.join(root, p), m))
    for path, mode, size, seed in plan["files"]:
        data = content(seed, size)
        step(path, lambda root, p=path, m=mode, d=data: write_file(os.path.join(root, p), m, d))
    for path, target in plan["symlinks"]:
        step(path, lambda root, p=path, t=target: os.symlink(t, os.path.join(root, p)))
    for existing, path in plan["hardLinks"]:
        step(path, lambda root, p=path, e=existing: os.link(os.path.join(root, e), os.path.join(root, p)))
    json.dump({"items": done, "seconds": round(time.monotonic() - started, 2)}, sys.stdout)
    sys.stdout.write("\n")


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def kind_of(mode):
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISLNK(mode):
        return "l"
    return "o"


def scan(root):
    # The walk only lists (readdir gives the names and types); the lstat and the read of each
    # entry, one round trip or more each through a mount, run on several threads.
    paths = []
    for directory, dirnames, filenames in os.walk(root):
        paths.extend(os.path.join(directory, name) for name in dirnames + filenames)

    def describe(path):
        st = os.lstat(path)
        kind = kind_of(st.st_mode)
        digest = md5_of(path) if kind == "f" else os.readlink(path) if kind == "l" else ""
        return [os.path.relpath(path, root), kind, stat.S_IMODE(st.st_mode), st.st_size, st.st_nlink, digest, st.st_ino]

    with ThreadPoolExecutor(READ_THREADS) as pool:
        rows = list(pool.map(describe, paths, chunksize=16))
    rows.sort(key=lambda row: row[0])
    for row in rows:
        sys.stdout.write(json.dumps(row))
        sys.stdout.write("\n")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "write":
        write(json.load(sys.stdin))
    elif len(sys.argv) == 3 and sys.argv[1] == "scan":
        scan(sys.argv[2])
    else:
        sys.stderr.write("usage: tree_writer.py write < plan.json | tree_writer.py scan ROOT\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
