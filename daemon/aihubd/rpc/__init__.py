"""The gRPC face of the daemon: thin servicers over the services, one error table."""
