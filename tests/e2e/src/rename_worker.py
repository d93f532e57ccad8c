"""One worker of the concurrent rename test: renames random directories into random others.

Usage: rename_worker.py ROOT SEED OPERATIONS DEPTH_MAX

Each operation picks a directory X by a random walk down from ROOT (1..DEPTH_MAX levels, a
random subdirectory at each level) and a target directory Y the same way (or ROOT itself, one
time in eight), then calls rename(X, Y/basename(X)), which keeps every directory's name unique
while it moves. Moving X under itself must fail with EINVAL; X or Y moved away meanwhile by
another worker gives ENOENT; other errnos are recorded as they come. When Y is X's own parent
the operation is counted as "same-parent" and not sent. Walks race with the other workers too:
a listing of a directory that moved away counts as "walk-ENOENT".

Output (stdout, one JSON object): {"outcomes": {"ok": n, "EINVAL": n, ...}, "renamed": n,
"seconds": s}.
"""

import errno
import json
import os
import random
import sys
import time


def errno_name(error):
    return errno.errorcode.get(error.errno, "E%d" % error.errno)


def subdirectories(path):
    with os.scandir(path) as entries:
        return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]


def walk(rng, root, depth_max):
    """A random directory below root (never root itself), or None when root has none."""
    path = root
    depth = rng.randint(1, depth_max)
    for _ in range(depth):
        children = subdirectories(path)
        if not children:
            break
        path = os.path.join(path, rng.choice(children))
    return None if path == root else path


def main():
    root, seed, operations, depth_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    outcomes = {}
    started = time.monotonic()

    def count(outcome):
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    for _ in range(operations):
        try:
            source = walk(rng, root, depth_max)
            target_parent = root if rng.random() < 0.125 else walk(rng, root, depth_max)
        except OSError as error:
            count("walk-" + errno_name(error))
            continue
        if source is None or target_parent is None:
            count("walk-empty")
            continue
        if os.path.dirname(source) == target_parent:
            count("same-parent")
            continue
        try:
            os.rename(source, os.path.join(target_parent, os.path.basename(source)))
            count("ok")
        except OSError as error:
            count(errno_name(error))
    json.dump({"outcomes": outcomes, "renamed": outcomes.get("ok", 0), "seconds": round(time.monotonic() - started, 2)}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
