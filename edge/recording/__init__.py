"""Recording the bus to MCAP: every topic of the topic table, plus Foxglove views of the camera, the
detections and the vehicle's position, in time-sortable segments under a recordings directory.

One job per module: `policy` (the settings), `topics` (each bus topic's channel and JSON schema),
`foxglove` (the Foxglove schemas and the views built from bus messages), `segment` (one MCAP file,
written in chunks), `recorder` (routing and segment rotation), `reader` (reading segments back, cut
short or not, in log-time order) and `retention` (the disk budget, which spares report evidence).
"""
