#!/usr/bin/env bash
# Regenerate scanner/om/proto/*_pb2.py from the .proto files (needs grpcio-tools, no network).
set -euo pipefail
cd "$(dirname "$0")/../scanner/om/proto"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. task.proto ge_ir.proto
