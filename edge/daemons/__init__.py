"""The chain\x27s processes, one module with `main()` each; the table is `edge.process_table`."""
