"""One module per `gridscout` subcommand, each with `register(subparsers)`."""
