#!/usr/bin/env bash
# test-peer-sftp.sh's cases with the peers asked for their data extents
# over ssh (`cowherd send`), and what only that path has (see there).
PEER_MODE=extents exec bash "$(dirname "$0")/test-peer-sftp.sh" "$@"
