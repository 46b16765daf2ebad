"""`gridscout batch`: a survey season of photos and recordings, on a local process pool or on Ray."""

#: `--ray` without an address: a Ray started for the batch alone (here, where the CLI reads it without loading Ray)
LOCAL_RAY = "local"
