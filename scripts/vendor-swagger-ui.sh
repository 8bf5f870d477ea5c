#!/usr/bin/env bash
# Copy Swagger UI's browser files from the npm package swagger-ui-dist into the server
# package, so /docs needs no CDN. Usage: scripts/vendor-swagger-ui.sh 5.32.1
set -euo pipefail
version="${1:?usage: $0 VERSION}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/src/attonix/server/static/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "swagger-ui-dist@$version" >/dev/null && tar xzf "swagger-ui-dist-$version.tgz")
sum="$(sha256sum "$work/swagger-ui-dist-$version.tgz" | cut -d' ' -f1)"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png swagger-ui-bundle.js.LICENSE.txt; do
  cp "$work/package/$f" "$dest/$f"
done
cp "$work/package/LICENSE" "$dest/LICENSE.txt"
cp "$work/package/NOTICE" "$dest/NOTICE.txt"
sed -i -e "s/swagger-ui-dist [0-9.]*$/swagger-ui-dist $version/" \
  -e "s/^Tarball sha256: .*/Tarball sha256: $sum/" "$dest/VENDORED.txt"
echo "vendored swagger-ui-dist $version ($sum)"
