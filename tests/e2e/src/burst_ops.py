"""Runs a batch of namespace operations with several threads and streams each result at once.

Input (stdin, one JSON object): {"root": ROOT, "threads": N, "ops": [[kind, path, path2?], ...]}
with kind one of mkdir, create, rename (path -> path2), link (existing path -> new path2), unlink,
rmdir; paths are relative to ROOT. Operations start in list order, N at a time.

Output (stdout): one JSON line per finished operation, flushed as soon as it returned, so a
reader knows which operations were acknowledged even if this process is killed later:
{"i": index, "ok": true} or {"i": index, "errno": "ENOENT"}.
"""

import errno
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def create(path):
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


CALLS = {
    "mkdir": lambda path: os.mkdir(path, 0o755),
    "create": create,
    "rename": os.rename,
    "link": os.link,
    "unlink": os.unlink,
    "rmdir": os.rmdir,
}


def main():
    batch = json.load(sys.stdin)
    root = batch["root"]
    lock = threading.Lock()

    def report(line):
        with lock:
            sys.stdout.write(json.dumps(line))
            sys.stdout.write("\n")
            sys.stdout.flush()

    def run(index, op):
        kind, paths = op[0], [os.path.join(root, path) for path in op[1:]]
        try:
            CALLS[kind](*paths)
            report({"i": index, "ok": True})
        except OSError as error:
            report({"i": index, "errno": errno.errorcode.get(error.errno, "E%d" % error.errno)})

    with ThreadPoolExecutor(max(1, int(batch["threads"]))) as pool:
        for index, op in enumerate(batch["ops"]):
            pool.submit(run, index, op)


if __name__ == "__main__":
    main()
