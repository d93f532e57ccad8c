#!/usr/bin/env bash
# Captures real client⇄master traffic of MooseFS 3.0.117 for the golden tests of libs/mfs-wire.
#
# Runs mfsmaster + one mfschunkserver + mfsmount inside a private network namespace
# (antler-wire-1, 10.213.50.1 on its loopback), records port 9421 with tcpdump while a script of
# namespace operations runs on the mount, then turns the capture into hex fixtures with
# tools/capture/extract.ts. Everything started here is stopped by PID (and the namespace deleted)
# on exit, also on failure.
#
# Usage: bash tools/capture/capture.sh [output.json]   (run as root)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/libs/mfs-wire/test/fixtures/captured-session.json}
NS=antler-wire-1
ADDR=10.213.50.1
WORK=$(mktemp -d /tmp/antler-wire-capture.XXXXXX)
NODE=$ROOT/node_modules/.bin/node

HOLDER_PID=""
MASTER_PID=""
CHUNK_PID=""
DUMP_PID=""
MOUNTED=0

cleanup() {
  set +e
  if [ "$MOUNTED" = 1 ]; then nsenter -t "$HOLDER_PID" -m -n umount "$WORK/mnt" 2>/dev/null || \
    nsenter -t "$HOLDER_PID" -m -n umount -l "$WORK/mnt"; fi
  for pid in $CHUNK_PID $MASTER_PID; do
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ -n "$DUMP_PID" ]; then kill -INT "$DUMP_PID" 2>/dev/null; sleep 0.5; kill -KILL "$DUMP_PID" 2>/dev/null; fi
  if [ -n "$HOLDER_PID" ]; then kill -KILL "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; fi
  ip netns del "$NS" 2>/dev/null
  echo "capture: cleaned up ($WORK kept for inspection)" >&2
}
trap cleanup EXIT

in_ns() { nsenter -t "$HOLDER_PID" -m -n "$@"; }
# Starts a long-running program inside the namespace in the background and prints its own PID
# (nsenter forks, so $! would be nsenter's PID, which does not pass signals on).
spawn_in_ns() {
  local log=$1; shift
  local pidfile
  pidfile=$(mktemp "$WORK/pid.XXXXXX")
  in_ns bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 &
  for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  cat "$pidfile"
}

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add "$ADDR/32" dev lo
# One long-lived process owns the namespace's mount namespace, so the FUSE mount stays visible
# to every later nsenter (ip netns exec would give each command a fresh mount namespace).
ip netns exec "$NS" sleep infinity &
HOLDER_PID=$!
sleep 0.2

mkdir -p "$WORK/master" "$WORK/cs" "$WORK/hdd" "$WORK/mnt"
cp /var/lib/mfs/metadata.mfs.empty "$WORK/master/metadata.mfs"
echo "* / rw,alldirs,admin,maproot=0:0" > "$WORK/exports.cfg"
cat > "$WORK/master.cfg" <<CFG
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $WORK/master
EXPORTS_FILENAME = $WORK/exports.cfg
TOPOLOGY_FILENAME = $WORK/topology.cfg
MATOML_LISTEN_HOST = $ADDR
MATOCS_LISTEN_HOST = $ADDR
MATOCL_LISTEN_HOST = $ADDR
CFG
touch "$WORK/topology.cfg"
echo "$WORK/hdd" > "$WORK/hdd.cfg"
cat > "$WORK/cs.cfg" <<CFG
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $WORK/cs
HDD_CONF_FILENAME = $WORK/hdd.cfg
MASTER_HOST = $ADDR
CSSERV_LISTEN_HOST = $ADDR
CSSERV_LISTEN_PORT = 9422
HDD_TEST_FREQ = 0
CFG

DUMP_PID=$(spawn_in_ns "$WORK/tcpdump.log" tcpdump -i lo -U -s 0 -w "$WORK/capture.pcap" tcp port 9421)
sleep 1
MASTER_PID=$(spawn_in_ns "$WORK/master.log" mfsmaster -c "$WORK/master.cfg" -f start)
sleep 1
CHUNK_PID=$(spawn_in_ns "$WORK/cs.log" mfschunkserver -c "$WORK/cs.cfg" -f start)
sleep 3

MARKS=$WORK/marks.txt
: > "$MARKS"
# Each step is logged with its wall-clock start (µs) so the extractor can name the command that
# produced every frame; the pauses keep the steps' traffic apart.
step() {
  local shown=$*
  echo "$(($(date +%s%N) / 1000)) ${shown//$M/<mnt>}" >> "$MARKS"
  in_ns bash -c "$*" >>"$WORK/steps.log" 2>&1 || echo "step failed (ignored): $*" >>"$WORK/steps.log"
  sleep 0.4
}

M=$WORK/mnt
echo "$(($(date +%s%N) / 1000)) mfsmount <mnt> -H $ADDR" >> "$MARKS"
in_ns mfsmount "$M" -H "$ADDR" >"$WORK/mount.log" 2>&1
MOUNTED=1
sleep 1.5

step "stat $M"
step "mkdir $M/d"
step "echo hi > $M/d/f"
step "cat $M/d/f"
step "ls -l $M/d"
step "stat $M/d/f"
step "chmod 600 $M/d/f"
step "chown 1000:1000 $M/d/f"
step "touch -d '2020-01-02 03:04:05' $M/d/f"
step "truncate -s 100000 $M/d/f"
step "truncate -s 70000000 $M/d/g && dd if=$M/d/g of=/dev/null bs=4096 skip=16500 count=1"
step "dd if=/dev/zero of=$M/d/g bs=4096 seek=16500 count=1 conv=notrunc"
step "rm $M/d/g"
step "ln $M/d/f $M/d/hard"
step "ln -s f $M/d/sym"
step "readlink $M/d/sym"
step "mv $M/d/hard $M/d/hard2"
step "mkfifo $M/d/fifo"
step "mknod $M/d/cdev c 1 7"
if command -v setfattr >/dev/null; then
  step "setfattr -n user.k -v val $M/d/f"
  step "getfattr -d $M/d/f"
  step "getfattr -n user.k $M/d/f"
  step "setfattr -x user.k $M/d/f"
fi
if command -v setfacl >/dev/null; then
  step "setfacl -m u:1000:rw,g:1000:r $M/d/f"
  step "getfacl $M/d/f"
  step "setfacl -d -m u:1000:rwx $M/d"
  step "getfacl $M/d"
  step "setfacl -b $M/d/f"
fi
step "flock $M/d/f -c true"
step "flock -s $M/d/f -c true"
step "python3 -c 'import fcntl; f=open(\"$M/d/f\",\"r+\"); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 10, 0); fcntl.lockf(f, fcntl.LOCK_UN, 10, 0)'"
step "python3 -c 'import fcntl,struct; f=open(\"$M/d/f\",\"r+\"); fcntl.fcntl(f, fcntl.F_GETLK, struct.pack(\"hhqqi\", fcntl.F_WRLCK, 0, 0, 0, 0))'"
step "setpriv --reuid=1000 --regid=1000 --groups=1000,5,6 stat $M/d/f"
step "setpriv --reuid=1000 --regid=1000 --clear-groups ls -l $M/d"
step "setpriv --reuid=1000 --regid=1000 --clear-groups cat $M/d/f"
step "setpriv --reuid=1000 --regid=1000 --clear-groups test -w $M/d/f"
step "mfsgetgoal $M/d/f"
step "mfssetgoal 2 $M/d/f"
step "mfssetgoal -r 3 $M/d"
step "mfsgetgoal -r $M/d"
step "mfsgettrashtime $M/d/f"
step "mfssettrashtime 3600 $M/d/f"
step "mfsgettrashtime -r $M/d"
step "mfsgeteattr $M/d/f"
step "mfsseteattr -f noowner $M/d/f"
step "mfsdeleattr -f noowner $M/d/f"
step "mfsdirinfo $M/d"
step "mfscheckfile $M/d/f"
step "mfsfileinfo $M/d/f"
step "mfsmakesnapshot $M/d/f $M/d/snap"
step "ls -la $M/d"
step "rm $M/d/sym $M/d/hard2 $M/d/fifo $M/d/cdev $M/d/snap"
step "mv $M/d/f $M/f2"
step "rm $M/f2"
step "rmdir $M/d"
step "df $M"
# A master restart: the mount reconnects (REGISTER RECONNECT → `000300ea 00`) and carries on.
echo "$(($(date +%s%N) / 1000)) restart mfsmaster" >> "$MARKS"
kill -TERM "$MASTER_PID"
for _ in $(seq 1 100); do kill -0 "$MASTER_PID" 2>/dev/null || break; sleep 0.1; done
MASTER_PID=$(spawn_in_ns "$WORK/master2.log" mfsmaster -c "$WORK/master.cfg" -f start)
sleep 4
step "stat $M/"
step "sleep 3"
echo "$(($(date +%s%N) / 1000)) umount <mnt>" >> "$MARKS"
in_ns umount "$M"
MOUNTED=0
# mfsmount sends its last SUSTAINED_INODES and CLOSESESSION while exiting, after the unmount.
sleep 4
kill -INT "$DUMP_PID"
for _ in $(seq 1 50); do kill -0 "$DUMP_PID" 2>/dev/null || break; sleep 0.1; done
DUMP_PID=""

"$NODE" "$ROOT/tools/capture/extract.ts" "$WORK/capture.pcap" "$MARKS" 9421 > "$OUT"
echo "capture: wrote $OUT" >&2
