"""The embedded test environment, apart from the product: a Kubernetes API emulator, CNPG
behaviour, launchers for nats-server, pdns_server and postgres, and the stack and demo built
from them. It may import ``continuum``; ``continuum`` never imports it (import-linter), except
the ``demo`` and ``sim`` commands, lazily."""
