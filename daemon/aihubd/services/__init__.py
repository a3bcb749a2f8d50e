"""Use cases: what an RPC asks for, expressed over the store, the tracker and the Hub."""
