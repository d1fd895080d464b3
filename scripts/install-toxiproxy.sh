#!/bin/sh
# Builds toxiproxy-server from the Go module proxy into ~/.cache/authplane/toxiproxy-VERSION/
# (once; later runs find it there). The drills route links between regions through it.
set -eu
VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/authplane/toxiproxy-$VERSION"
if [ -x "$DEST/toxiproxy-server" ]; then
    echo "$DEST/toxiproxy-server"
    exit 0
fi
command -v go >/dev/null || { echo "toxiproxy: go is not on PATH" >&2; exit 1; }
echo "building github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION into $DEST" >&2
mkdir -p "$DEST"
GOBIN="$DEST" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION" >&2
mv "$DEST/server" "$DEST/toxiproxy-server"
echo "$DEST/toxiproxy-server"
