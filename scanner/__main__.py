"""`python -m scanner` runs the omscan command."""

from .cli import main

if __name__ == "__main__":
    main()
