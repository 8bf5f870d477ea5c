#!/usr/bin/env bash
# Headless Chromium (Debian's) and fonts for the console's end-to-end tests and screenshots.
source "$(dirname "$0")/../lib.sh"
apt_install chromium fonts-dejavu-core fonts-liberation
