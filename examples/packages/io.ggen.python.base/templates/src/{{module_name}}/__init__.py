"""{{ description }}"""

__all__ = ["__version__", "greeting"]
__version__ = "0.1.0"


def greeting(name: str = "world") -> str:
    """Return the greeting for ``name``.

    >>> greeting("Ada")
    'Hello, Ada!'
    """
    return f"Hello, {name}!"
