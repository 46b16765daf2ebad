"""The chain's runtime: messages and the topic table, the bus, the process table, the supervisor and the daemon base."""
