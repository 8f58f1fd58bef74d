#!/usr/bin/env bash
# Regenerate the Python classes for the messaging envelope (called by `make proto`).
set -euo pipefail
cd "$(dirname "$0")/.."
PROTO_DIR=src/centralhub/sdk/messaging/proto
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m grpc_tools.protoc \
  -I "$PROTO_DIR" \
  --python_out="$PROTO_DIR" \
  "$PROTO_DIR"/message_envelope.proto
echo "generated $PROTO_DIR/message_envelope_pb2.py"
