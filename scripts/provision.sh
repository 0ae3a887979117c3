#!/usr/bin/env bash
# The system packages the tests need, from the one list in scripts/system-packages.txt. As root, the missing ones
# are installed (one apt-get update, one apt-get install); otherwise each missing one is named with the command that
# installs it, and the script goes on: a test that needs it then says what is missing. A machine that has them all
# needs no network. `npm test` runs it first (the pretest script), and so does .ci/run.
#
#   scripts/provision.sh                 # every package of the list
#   scripts/provision.sh docker.io ...   # only these (scripts/docker-images.sh asks for docker.io)
#   scripts/provision.sh --list          # the list, one package a line, installed or not
set -euo pipefail
# bash alone reads the list and checks it (no grep, awk or coreutils needed to find out what is missing)
here="${BASH_SOURCE[0]}"
[[ "$here" == */* ]] || here="./$here"
cd "${here%/*}/.."
LIST=scripts/system-packages.txt
[ -r "$LIST" ] || { echo "provision: $LIST is missing" >&2; exit 1; }

# "package detect1,detect2" per line of the list, comments and blanks dropped
entries() {
  local package detect rest
  while read -r package detect rest; do
    case "$package" in '' | \#*) continue ;; esac
    echo "$package $detect"
  done <"$LIST"
}

if [ "${1:-}" = "--list" ]; then
  entries | while read -r package _; do echo "$package"; done
  exit 0
fi

installed() {
  local probe
  IFS=, read -ra probes <<<"$1"
  for probe in "${probes[@]}"; do
    case "$probe" in
      /*) [ -e "$probe" ] || return 1 ;;
      *) command -v "$probe" >/dev/null 2>&1 || return 1 ;;
    esac
  done
}

missing=()
while read -r package detect; do
  if [ $# -gt 0 ] && [[ " $* " != *" $package "* ]]; then continue; fi
  installed "$detect" || missing+=("$package")
done < <(entries)

if [ ${#missing[@]} -eq 0 ]; then
  echo "provision: every system package the tests need is installed"
  exit 0
fi
if [ "$EUID" -ne 0 ]; then
  for package in "${missing[@]}"; do
    echo "provision: $package is missing: apt-get install $package (as root; the tests that need it will say so)"
  done
  exit 0
fi
echo "provision: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# openssh-server's postinst starts the machine's own sshd, on port 22 of every address, wherever services may start
# (under systemd, or with no policy-rc.d forbidding it); the tests run their own sshd on loopback and want no other.
# This file is Debian's switch that keeps the ssh service from starting, now and at boot; an sshd run by hand ignores it.
if [[ " ${missing[*]} " == *" openssh-server "* ]] && [ ! -e /usr/sbin/sshd ]; then
  mkdir -p /etc/ssh && : >/etc/ssh/sshd_not_to_be_run
fi
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
