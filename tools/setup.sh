#!/usr/bin/env bash
# Prepares a Debian 12 machine (run as root, Node 20 preinstalled) to build, test and run Antler:
#   1. Debian packages: MooseFS 3.0.117 (master as the reference, chunkserver, client, cli), fuse3,
#      redis-server and the tools the launcher and tests call (ip, nsenter, tcpdump, fuser).
#   2. nats-server pinned to 2.15.1, taken from Debian sid's archive with a private apt sources
#      list, so the machine's own apt configuration stays untouched (see deps.md §1a for why
#      bookworm's 2.9.10 is not enough). Installed as /opt/antler/bin/nats-server.
#   3. The npm workspace (npm ci) when node_modules is missing or older than package-lock.json.
# Every step checks first and does nothing when it is already done, so a second run is quick.
# Antler starts redis-server, nats-server and chunkservers itself, per cluster; this script makes
# sure no system-wide redis or MooseFS service is left running by the package installation.
set -euo pipefail

readonly nats_version="2.15.1"
readonly nats_deb_version="2.15.1-1"
readonly nats_fallback_suite="trixie"
readonly nats_fallback_version="2.10.27"
# ANTLER_SETUP_NATS_DIR exists to exercise the download path without replacing the real binary.
readonly nats_target_dir="${ANTLER_SETUP_NATS_DIR:-/opt/antler/bin}"
readonly apt_packages=(
  moosefs-master moosefs-chunkserver moosefs-client moosefs-cli fuse3 redis-server
  tcpdump iproute2 psmisc util-linux
)
# Services whose Debian packages ship an init script that could start a system-wide daemon.
readonly package_services=(redis-server moosefs-master moosefs-chunkserver)

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
scratch=""

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
cleanup() { if [[ -n "$scratch" ]]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT
# Any command failing without its own message still ends with one line saying where.
trap 'printf "setup: error: unexpected failure at tools/setup.sh line %s\n" "$LINENO" >&2' ERR

[[ "$(id -u)" == "0" ]] ||
  fail "must run as root (apt-get, /opt/antler and network namespaces need it)"
command -v apt-get >/dev/null || fail "apt-get not found: this script supports Debian 12 only"

# --- 1. Debian packages ---------------------------------------------------------------------------

missing_packages=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing_packages+=("$package")
  fi
done

if (( ${#missing_packages[@]} == 0 )); then
  say "debian packages: all present"
else
  say "debian packages: installing ${missing_packages[*]}"
  # Remember which package services were running before, so only those we caused get stopped.
  declare -A running_before=()
  for service in "${package_services[@]}"; do
    if [[ -x "/etc/init.d/$service" ]] && "/etc/init.d/$service" status >/dev/null 2>&1; then
      running_before[$service]=1
    fi
  done
  # policy-rc.d exit 101 is Debian's documented way to tell maintainer scripts not to start
  # services during installation; install a temporary one unless the machine already has one.
  temporary_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    temporary_policy=1
  fi
  install_status=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing_packages[@]}"
  } > /tmp/antler-setup-apt.log 2>&1 || install_status=$?
  if [[ -n "$temporary_policy" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  (( install_status == 0 )) || fail "apt-get install failed (log: /tmp/antler-setup-apt.log)"
  # Belt and braces: if a maintainer script still started a service, stop exactly that one.
  for service in "${package_services[@]}"; do
    if [[ -z "${running_before[$service]:-}" && -x "/etc/init.d/$service" ]] &&
       "/etc/init.d/$service" status >/dev/null 2>&1; then
      say "stopping $service, started by its package (Antler runs its own instances)"
      "/etc/init.d/$service" stop >/dev/null 2>&1 || fail "could not stop $service"
    fi
  done
  say "debian packages: installed"
fi

# --- 2. nats-server -------------------------------------------------------------------------------

nats_binary="$nats_target_dir/nats-server"

installed_nats_version() {
  if [[ -x "$nats_binary" ]]; then "$nats_binary" --version 2>/dev/null | awk '{print $2}'; fi
}

# The machine's configured Debian mirror: deb822 sources first, then the one-line format.
debian_mirror() {
  local uri=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    uri="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
      /etc/apt/sources.list.d/debian.sources)"
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    # One-line format: the first field that looks like a URL (options like [signed-by=...] skipped).
    uri="$(awk '/^deb / && $0 !~ /security/ {
        for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list)"
  fi
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# Downloads nats-server from one Debian suite with a private apt state directory and extracts it.
# Prints the extracted binary's path; returns non-zero when the suite lacks that version.
fetch_nats_from_suite() {
  local suite="$1" version_pattern="$2"
  local dir="$scratch/$suite" options
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/empty" "$dir/x"
  local keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
  echo "deb [signed-by=$keyring] $(debian_mirror) $suite main" > "$dir/sources.list"
  options=(-o "Dir::State::Lists=$dir/lists" -o "Dir::Etc::SourceList=$dir/sources.list"
           -o "Dir::Etc::SourceParts=$dir/empty" -o "Dir::Cache=$dir/cache")
  apt-get "${options[@]}" update -qq >> "$scratch/apt.log" 2>&1 || return 1
  local exact
  exact="$(apt-cache "${options[@]}" madison nats-server 2>/dev/null |
    awk -F'|' -v p="$version_pattern" '{gsub(/ /, "", $2); if ($2 ~ p) {print $2; exit}}')"
  [[ -n "$exact" ]] || return 1
  (cd "$dir" && apt-get "${options[@]}" download "nats-server=$exact" >> "$scratch/apt.log" 2>&1) ||
    return 1
  dpkg -x "$dir"/nats-server_*.deb "$dir/x" || return 1
  printf '%s' "$dir/x/usr/sbin/nats-server"
}

if [[ "$(installed_nats_version)" == "v$nats_version" ]]; then
  say "nats-server: v$nats_version already at $nats_binary"
else
  say "nats-server: fetching $nats_deb_version from Debian sid"
  scratch="$(mktemp -d)"
  extracted=""
  if ! extracted="$(fetch_nats_from_suite sid "^${nats_deb_version//./\\.}$")"; then
    say "warning: nats-server $nats_version is not in sid any more;" \
      "falling back to $nats_fallback_suite's $nats_fallback_version" \
      "(older: check deps.md §1b for the features it lacks)"
    fallback_pattern="^${nats_fallback_version//./\\.}-"
    extracted="$(fetch_nats_from_suite "$nats_fallback_suite" "$fallback_pattern")" ||
      fail "could not download nats-server from Debian (log: $scratch/apt.log)"
  fi
  "$extracted" --version >/dev/null 2>&1 || fail "the downloaded nats-server does not run here"
  mkdir -p "$nats_target_dir"
  install -m 755 "$extracted" "$nats_binary.new"
  mv -f "$nats_binary.new" "$nats_binary"
  say "nats-server: installed $("$nats_binary" --version) at $nats_binary"
fi

# --- 3. npm workspace -----------------------------------------------------------------------------

cd "$repo_root"
command -v npm >/dev/null || fail "npm not found (Node 20 with npm is expected to be preinstalled)"
# npm rewrites node_modules/.package-lock.json on every install, so it dates the installed tree.
installed_lock="node_modules/.package-lock.json"
if [[ -x node_modules/.bin/node && -f "$installed_lock" &&
      ( ! -f package-lock.json || ! package-lock.json -nt "$installed_lock" ) ]]; then
  say "npm: node_modules up to date"
else
  if [[ -f package-lock.json ]]; then
    say "npm: npm ci"
    npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed"
  else
    say "npm: npm install (no package-lock.json)"
    npm install --no-audit --no-fund --loglevel=error || fail "npm install failed"
  fi
fi

say "done"
