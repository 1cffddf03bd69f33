"""The exceptions lazgi raises: one base class, one subclass per way a lifespan goes wrong."""


class LifespanError(RuntimeError):
    """An ASGI lifespan did not go as the protocol requires."""


class StartupError(LifespanError):
    """The app did not start: it reported a failure, raised, or did not answer in time."""


class ShutdownError(LifespanError):
    """The app did not stop cleanly: it reported a failure, raised, or did not answer in time."""


class NotStartedError(LifespanError):
    """A request reached a LazyApp whose lifespan is not running, so there is no app to serve it."""
