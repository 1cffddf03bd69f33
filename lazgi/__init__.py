"""lazgi: build an ASGI app inside its lifespan, with its resources passed in explicitly.

One idea, composed twice: `lifespan(app)` drives any app's ASGI lifespan as an async context
manager; `LazyApp(factory)` is a module-global ASGI app whose lifespan enters the factory's
context manager and then, with the same primitive, the lifespan of the app it built.
"""

from ._app import LazyApp
from ._errors import LifespanError, NotStartedError, ShutdownError, StartupError
from ._lifespan import StartedApp, lifespan

__all__ = [
    "LazyApp",
    "LifespanError",
    "NotStartedError",
    "ShutdownError",
    "StartedApp",
    "StartupError",
    "__version__",
    "lifespan",
]

__version__ = "0.2.0"
