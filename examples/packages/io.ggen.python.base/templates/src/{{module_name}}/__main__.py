"""Command line: ``{{ project_name }} [NAME]`` or ``python -m {{ module_name }} [NAME]``."""

import argparse

from . import __version__, greeting


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), print the greeting, return the exit code."""
    parser = argparse.ArgumentParser(prog="{{ project_name }}", description="{{ description }}")
    parser.add_argument("name", nargs="?", default="world", help="who to greet")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    print(greeting(args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
