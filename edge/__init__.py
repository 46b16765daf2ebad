"""Edge: the CLI, config, and (soon) the process chain that runs on the robot."""
