"""``python -m blindsum`` and the ``blindsum`` console script."""

from __future__ import annotations


def main() -> None:
    """Run the CLI (imported lazily so ``blindsum --help`` stays fast)."""
    import sys

    from blindsum.api.cli import app
    from blindsum.errors import BlindsumError

    try:
        app()
    except BlindsumError as exc:
        print(f"blindsum: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
