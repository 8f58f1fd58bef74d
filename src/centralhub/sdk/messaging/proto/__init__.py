"""Generated protobuf classes for the messaging envelope (see ``scripts/gen_proto.sh``)."""
