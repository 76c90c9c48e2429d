#!/usr/bin/env bash
# Installs HAProxy 2.6 and socat from Debian when they are missing. The tests
# start their own haproxy on loopback ports; socat drives the master CLI in
# the reload script the whole-stack tests give the Data Plane API.
set -euo pipefail
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
haproxy -v | head -n 1
