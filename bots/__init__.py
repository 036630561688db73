"""Teams activity handling: the endpoint, the handler feeding the runtime, guest facts; the SDK
shims in `bots/edge/`."""
