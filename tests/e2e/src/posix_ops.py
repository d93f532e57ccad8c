"""Runs a list of POSIX calls and reports each result as a value or an errno name.

The e2e workload uses it for what Node cannot do: system calls as another user (it is started
through `setpriv --reuid 1000 ...`) and extended attributes (Node has no xattr API, and the
`attr`/`acl` tools are not installed here). Input on stdin: a JSON list of calls, each
[name, *args]. Output on stdout: a JSON list with one {"ok": value} or {"errno": "EACCES"} per
call, in order. A call never stops the ones after it. Binary values travel as hex.
"""

import errno
import json
import os
import sys


def stat_fields(st):
    return {"mode": st.st_mode, "nlink": st.st_nlink, "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size}


def open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


XATTR_FLAGS = {"": 0, "create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}

CALLS = {
    "mkdir": lambda path, mode: os.mkdir(path, mode),
    "create": lambda path, mode: open_close(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode),
    "open_read": lambda path: open_close(path, os.O_RDONLY),
    "open_write": lambda path: open_close(path, os.O_WRONLY),
    "unlink": lambda path: os.unlink(path),
    "rmdir": lambda path: os.rmdir(path),
    "rename": lambda source, target: os.rename(source, target),
    "link": lambda source, target: os.link(source, target),
    "symlink": lambda target, path: os.symlink(target, path),
    "chmod": lambda path, mode: os.chmod(path, mode),
    "chown": lambda path, uid, gid: os.chown(path, uid, gid),
    "lchown": lambda path, uid, gid: os.lchown(path, uid, gid),
    "utime": lambda path, atime, mtime: os.utime(path, (atime, mtime)),
    "utime_now": lambda path: os.utime(path, None),
    "truncate": lambda path, length: os.truncate(path, length),
    "stat": lambda path: stat_fields(os.stat(path)),
    "lstat": lambda path: stat_fields(os.lstat(path)),
    "listdir": lambda path: sorted(os.listdir(path)),
    "setxattr": lambda path, name, value_hex, flags: os.setxattr(path, name, bytes.fromhex(value_hex), XATTR_FLAGS[flags]),
    "lsetxattr": lambda path, name, value_hex, flags: os.setxattr(
        path, name, bytes.fromhex(value_hex), XATTR_FLAGS[flags], follow_symlinks=False
    ),
    "getxattr": lambda path, name: os.getxattr(path, name).hex(),
    "listxattr": lambda path: sorted(os.listxattr(path)),
    "removexattr": lambda path, name: os.removexattr(path, name),
}


def run(call):
    name, args = call[0], call[1:]
    try:
        value = CALLS[name](*args)
        return {"ok": value}
    except OSError as error:
        return {"errno": errno.errorcode.get(error.errno, "E%d" % error.errno)}


def main():
    calls = json.load(sys.stdin)
    json.dump([run(call) for call in calls], sys.stdout)


if __name__ == "__main__":
    main()
